"""deploy/kubernetes/monitoring: the PodMonitors select the pods each overlay runs, on ports
those pods declare, so Prometheus scrapes every Ray node, the autoscaler and the tracking
server. (KubeRay labels each Ray pod `ray.io/cluster: NAME` and `ray.io/node-type: head` or
`worker`.)"""

from __future__ import annotations

from typing import Any

import pytest
from tests.deploy.conftest import DEPLOY, OVERLAYS, kustomize_build, one, overlay, secret_commands


def ports(pod_spec: dict[str, Any]) -> set[str]:
    return {p["name"] for c in pod_spec["containers"] for p in c.get("ports", [])}


@pytest.mark.parametrize("name", OVERLAYS)
def test_each_podmonitor_selects_pods_of_the_overlay_on_ports_they_declare(name: str) -> None:
    built = kustomize_build(DEPLOY / "kubernetes" / "monitoring")
    assert sorted(m["kind"] for m in built) == ["PodMonitor"] * 3 + ["PrometheusRule"]
    monitors = [m for m in built if m["kind"] == "PodMonitor"]
    documents = overlay(name)
    cluster = one(documents, "RayCluster")
    [trainers] = cluster["spec"]["workerGroupSpecs"]
    pods = {
        ("head", cluster["metadata"]["name"]): cluster["spec"]["headGroupSpec"]["template"],
        ("worker", cluster["metadata"]["name"]): trainers["template"],
    }
    tracking = one(documents, "Deployment", "tunelab-tracking")["spec"]["template"]
    scraped = set()
    for monitor in monitors:
        assert monitor["metadata"]["namespace"] == cluster["metadata"]["namespace"]
        wanted = monitor["spec"]["selector"]["matchLabels"]
        if "ray.io/node-type" in wanted:
            pod = pods[(wanted["ray.io/node-type"], wanted["ray.io/cluster"])]
            scraped.add(wanted["ray.io/node-type"])
        else:
            assert wanted.items() <= tracking["metadata"]["labels"].items()
            pod = tracking
            scraped.add("tracking")
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports(pod["spec"]), (monitor["metadata"]["name"], endpoint)
    assert scraped == {"head", "worker", "tracking"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_ray_serves_metrics_where_the_monitors_look_and_the_server_exposes_them(name: str) -> None:
    documents = overlay(name)
    cluster = one(documents, "RayCluster")
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    for group in groups:
        [metrics] = [
            p
            for c in group["template"]["spec"]["containers"]
            for p in c.get("ports", [])
            if p["name"] == "metrics"
        ]
        assert group["rayStartParams"]["metrics-export-port"] == str(metrics["containerPort"])
    server = one(documents, "Deployment", "tunelab-tracking")["spec"]["template"]["spec"]
    assert "--expose-prometheus" in server["containers"][0]["args"]


def test_prometheus_scrapes_the_tracking_server_as_a_user_the_readme_creates() -> None:
    [tracking] = [
        m
        for m in kustomize_build(DEPLOY / "kubernetes" / "monitoring")
        if m["kind"] == "PodMonitor" and m["metadata"]["name"] == "tunelab-tracking"
    ]
    [endpoint] = tracking["spec"]["podMetricsEndpoints"]
    auth = endpoint["basicAuth"]
    created = secret_commands((DEPLOY / "README.md").read_text())
    for part in ("username", "password"):
        assert auth[part]["key"] in created[auth[part]["name"]]
