"""The node types an autoscaler can launch, read from its configuration as Ray's cluster
launcher and KubeRay's autoscaler write it."""

from __future__ import annotations

from tunelab.backend._cluster import NodeType, node_types_of


def test_worker_types_with_their_resources_and_maximums_and_not_the_head() -> None:
    config = {
        "max_workers": 6,
        "head_node_type": "head",
        "available_node_types": {
            "head": {"resources": {"CPU": 0}, "max_workers": 0},
            "cpu": {"resources": {"CPU": 4}, "min_workers": 0, "max_workers": 2},
            "gpu": {"resources": {"CPU": 8, "GPU": 1}, "max_workers": 10},  # the cluster caps it
            "none": {"resources": {"CPU": 2}, "max_workers": 0},
        },
    }
    assert node_types_of(config) == [NodeType("cpu", 4, 0, 2), NodeType("gpu", 8, 1, 6)]
