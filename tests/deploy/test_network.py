"""deploy/kubernetes' NetworkPolicies, evaluated as Kubernetes evaluates them (a pod selected by
any policy admits only what one of them allows) on the flows the deployment has: each one it
needs is admitted, and the ones an attacker on a trainer or in another namespace would try are
not. The pods' labels are the rendered templates' own, and KubeRay's for Ray's pods."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.conftest import DEPLOY, OVERLAYS, kustomize_build, one, overlay

NAMESPACE = "tunelab"
Pod = tuple[str, dict[str, str]]  # its namespace, its labels


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # what these policies use
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_admits(peer: dict[str, Any], source: Pod) -> bool:
    namespace, labels = source
    if "namespaceSelector" in peer:
        in_namespace = selects(
            peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}
        )
    else:
        in_namespace = namespace == NAMESPACE
    return in_namespace and selects(peer.get("podSelector", {}), labels)


def admitted(
    policies: list[dict[str, Any]], source: Pod, target: dict[str, str], port: int
) -> bool:
    applying = [
        p["spec"]
        for p in policies
        if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], target)
    ]
    if not applying:
        return True
    for spec in applying:
        for rule in spec.get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            if "from" not in rule or any(peer_admits(peer, source) for peer in rule["from"]):
                return True
    return False


def pods(documents: tuple[dict[str, Any], ...]) -> dict[str, dict[str, str]]:
    cluster = one(documents, "RayCluster")["metadata"]["name"]
    template = {
        name: one(documents, kind, name)["spec"]["template"]["metadata"]["labels"]
        for kind, name in (("Deployment", "tunelab-tracking"), ("StatefulSet", "tunelab-postgres"))
    }
    return {
        "tracking": template["tunelab-tracking"],
        "postgres": template["tunelab-postgres"],
        # KubeRay's labels on the pods it makes.
        "head": {"ray.io/cluster": cluster, "ray.io/node-type": "head"},
        "trainer": {"ray.io/cluster": cluster, "ray.io/node-type": "worker"},
        "submitter": {"job-name": "tunelab-sweep-x7k2p"},
    }


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_deployments_own_flows_are_admitted_and_no_other(name: str) -> None:
    documents = overlay(name)
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    assert any(p["spec"]["podSelector"] == {} for p in policies)  # deny by default
    labels = pods(documents)

    def here(pod: str) -> Pod:
        return NAMESPACE, labels[pod]

    needed = [
        (here("tracking"), "postgres", 5432),
        (here("head"), "postgres", 5432),  # the sweeps' studies
        (here("head"), "tracking", 5000),  # the drivers record runs
        (("ingress-nginx", {"app": "ingress-nginx"}), "tracking", 5000),
        (("monitoring", {"app": "prometheus"}), "tracking", 5000),
        (here("trainer"), "head", 6379),  # Ray's GCS
        (here("head"), "trainer", 10002),  # Ray's workers, on ports of their own
        (here("trainer"), "trainer", 8076),  # one object store to another
        (here("submitter"), "head", 8265),  # ray job submit
        (("kuberay-system", {"app.kubernetes.io/name": "kuberay"}), "head", 8265),
        (("monitoring", {"app": "prometheus"}), "head", 8080),
        (("monitoring", {"app": "prometheus"}), "head", 44217),
        (("monitoring", {"app": "prometheus"}), "trainer", 8080),
    ]
    refused = [
        (here("trainer"), "postgres", 5432),  # a trial's code holds no database password
        (here("trainer"), "tracking", 5000),
        (here("submitter"), "postgres", 5432),
        (("default", {"app": "anything"}), "postgres", 5432),
        (("default", {"app": "anything"}), "tracking", 5000),
        (("default", {"app": "anything"}), "head", 6379),
        (("default", {"app": "anything"}), "head", 10001),  # Ray's client server
    ]
    assert [f for f in needed if not admitted(policies, f[0], labels[f[1]], f[2])] == []
    assert [f for f in refused if admitted(policies, f[0], labels[f[1]], f[2])] == []


def test_the_ingress_host_is_set_once_and_the_server_answers_it(tmp_path: Path) -> None:
    """An overlay's host, changed where the overlay says, reaches the certificate's hosts and
    the names the tracking server answers."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY / "kubernetes", copy)
    settings = copy / "overlays" / "gpu" / "kustomization.yaml"
    text = settings.read_text()
    assert text.count("value: tracking.example.com") == 1
    settings.write_text(text.replace("value: tracking.example.com", "value: ml.team.example.org"))
    documents = kustomize_build(copy / "overlays" / "gpu")
    ingress = one(tuple(documents), "Ingress")["spec"]
    assert ingress["rules"][0]["host"] == ingress["tls"][0]["hosts"][0] == "ml.team.example.org"
    container = one(tuple(documents), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    answered = {e["name"]: e.get("value") for e in container["env"]}["TUNELAB_ALLOWED_HOSTS"]
    assert answered == "ml.team.example.org"
    assert "example.com" not in yaml.safe_dump(documents).replace("registry.example.com", "")
