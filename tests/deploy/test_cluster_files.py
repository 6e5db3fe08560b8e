"""deploy/cluster: the `ray up` files, checked by Ray's own cluster-config validation (its
ray-schema.json, after Ray fills in the provider's defaults), as `ray up` checks them."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.conftest import DEPLOY

CLUSTER_FILES = sorted((DEPLOY / "cluster").glob("*.yaml"))


def validated(config: dict[str, Any]) -> dict[str, Any]:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_there_is_one_file_per_cloud() -> None:
    clouds = {yaml.safe_load(p.read_text())["provider"]["type"] for p in CLUSTER_FILES}
    assert clouds == {"aws", "gcp"}


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_a_cluster_file_passes_rays_validation_with_a_gpu_worker_type(path: Path) -> None:
    config = validated(yaml.safe_load(path.read_text()))
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"]["CPU"] == 0  # the head trains nothing
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    assert len(gpu) == 1 and gpu[0]["max_workers"] >= 1
    # Every node runs the image, the GPU trainers its CUDA build: a scale-up installs nothing.
    docker = config["docker"]
    assert docker["head_image"].endswith("-cpu") and docker["worker_image"].endswith("-cuda")
    assert not [c for c in config["setup_commands"] if "pip install" in c]
    # Ray copies files into a node's running container with rsync: the image has it.
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert re.search(r"apt-get install [^\n]*\brsync\b", dockerfile)
    # The trainers write checkpoints to the results bucket: an identity of their own for it.
    node = gpu[0]["node_config"]
    assert node.get("IamInstanceProfile") or node.get("serviceAccounts")
    # Token authentication on every node; the token travels as a file, not on a command line.
    for commands in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in config[commands] if "ray start" in c]
        assert starts and all(c.startswith("RAY_AUTH_MODE=token ") for c in starts)
    assert "~/.ray/auth_token" in config["file_mounts"].values()


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_a_misspelt_field_fails_rays_validation(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    config["available_node_types"]["gpu"]["max_worker"] = 8
    with pytest.raises(Exception, match="max_worker"):
        validated(config)
