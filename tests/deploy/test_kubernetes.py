"""deploy/kubernetes as a cluster would receive it: each overlay built by kustomize, every
document validated strictly (Kubernetes' own schemas, KubeRay's CRDs), the GPU node type as
Ray's autoscaler derives it, and every secret a reference to one the README creates."""

from __future__ import annotations

import copy
import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from tests.deploy.conftest import (
    DEPLOY,
    KUBERNETES_VERSION,
    OVERLAYS,
    REPO,
    crd_errors,
    one,
    overlay,
    secret_commands,
)

SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY")


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_document_validates_strictly(name: str) -> None:
    import kubernetes_validate

    documents = overlay(name)
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == sorted(
        ["Namespace", "Service", "Service", "StatefulSet", "Deployment",
         "PersistentVolumeClaim", "RayCluster", "RayJob", "Ingress", *["NetworkPolicy"] * 4]
    )  # fmt: skip
    for document in documents:
        if document["apiVersion"].startswith("ray.io/"):
            assert crd_errors(document) == [], document["kind"]
        else:  # raises on any unknown or mistyped field
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "tunelab"


@pytest.mark.parametrize(
    "path, typo",
    [
        (("spec", "headGroupSpec"), "rayStartParam"),
        (("spec", "workerGroupSpecs", 0), "maxReplica"),
        (("spec", "headGroupSpec", "template", "spec", "containers", 0), "imagePullPolice"),
        (("spec", "authOptions"), "secretname"),
    ],
)
def test_a_misspelt_field_fails_the_crd_check(path: tuple[Any, ...], typo: str) -> None:
    cluster = copy.deepcopy(one(overlay("gpu"), "RayCluster"))
    node = cluster
    for key in path:
        node = node[key]
    node[typo] = "x"
    errors = crd_errors(cluster)
    assert any(typo in error for error in errors), errors


def test_a_misspelt_field_in_a_built_in_kind_fails() -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    deployment = copy.deepcopy(one(overlay("cpu"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name, gpus, max_workers", [("cpu", 0, 2), ("gpu", 1, 8)])
def test_rays_autoscaler_derives_the_trainer_node_type(
    name: str, gpus: int, max_workers: int
) -> None:
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )

    cluster = one(overlay(name), "RayCluster")
    config = _derive_autoscaling_config_from_ray_cr(cluster)
    types = config["available_node_types"]
    assert set(types) == {"headgroup", "trainers"}
    assert types["headgroup"]["resources"]["CPU"] == 0  # the head trains nothing
    trainers = types["trainers"]
    assert trainers["resources"].get("GPU", 0) == gpus
    assert (trainers["min_workers"], trainers["max_workers"]) == (0, max_workers)
    # What a sweep's preflight reads on the head (backend.node_types): the trainers, not the
    # head, so a trial of the shipped spec is accepted before any trainer is up.
    from tunelab.backend._cluster import node_types_of

    (kind,) = node_types_of(config)
    assert (kind.name, kind.gpu, kind.max_count) == ("trainers", gpus, max_workers)
    head_env = {
        var["name"]: var
        for var in cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert head_env["RAY_CLUSTER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['ray.io/cluster']"
    )
    assert "RAY_CLUSTER_NAMESPACE" in head_env
    worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    if gpus:
        limits = worker["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker[
            "tolerations"
        ]
        assert worker["containers"][0]["image"].endswith("-cuda")
    else:
        assert "tolerations" not in worker


@pytest.mark.parametrize("name", OVERLAYS)
def test_token_authentication_is_on_and_the_job_runs_on_that_cluster(name: str) -> None:
    cluster, job = one(overlay(name), "RayCluster"), one(overlay(name), "RayJob")
    assert cluster["spec"]["authOptions"] == {"mode": "token", "secretName": "tunelab-ray-token"}
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_the_commands_in_the_manifests_parse_as_tunelab_commands() -> None:
    """The server's flags and the sweep's entrypoint, read by tunelab's own parser: a misspelt
    flag fails here, not in the cluster."""
    from tunelab.cli import build_parser

    documents = overlay("gpu")
    container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    server = build_parser().parse_args([*container["command"][1:], *container["args"]])
    assert server.host == "0.0.0.0" and server.admin_password_file is not None
    assert not server.insecure
    job = one(documents, "RayJob")["spec"]
    entrypoint = shlex.split(job["entrypoint"])
    assert entrypoint[:2] == ["tunelab", "sweep"]
    sweep = build_parser().parse_args(entrypoint[1:])
    # A retried submitter goes on with the same sweep: it is named, and resumed if it exists.
    assert sweep.resume and sweep.name and job["backoffLimit"] >= 3
    spec = sweep.spec.removeprefix("/opt/tunelab/")
    assert (REPO / spec).is_file()  # shipped in the image (deploy/docker/Dockerfile)
    assert "COPY search_spaces ./search_spaces" in (DEPLOY / "docker" / "Dockerfile").read_text()


def env_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [variable for c in containers_of(document) for variable in c.get("env", [])]


def secret_references(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(Secret, key) pairs a document reads: env, mounted Secrets, KubeRay's token."""
    found = {
        (var["valueFrom"]["secretKeyRef"]["name"], var["valueFrom"]["secretKeyRef"]["key"])
        for var in env_of(document)
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    if document["kind"] == "RayCluster":
        found.add((document["spec"]["authOptions"]["secretName"], "auth_token"))
    spec = document.get("spec", {}).get("template", {}).get("spec", {})
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            found.add((volume["secret"]["secretName"], "password"))  # the file read from it
    return found


@pytest.mark.parametrize("name", OVERLAYS)
def test_no_secret_is_written_and_every_one_read_is_created_by_the_readme(name: str) -> None:
    documents = overlay(name)
    assert not [d for d in documents if d["kind"] == "Secret"]
    for document in documents:
        for var in env_of(document):
            if any(word in var["name"] for word in SECRET_WORDS):
                assert "value" not in var, f"{document['kind']}: {var['name']} is written out"
            if "://" in var.get("value", ""):  # a URI holds no password (PGPASSWORD does)
                assert urlsplit(var["value"]).password is None, var["name"]
    read = set().union(*(secret_references(d) for d in documents))
    created = secret_commands((DEPLOY / "README.md").read_text())
    missing = {(secret, key) for secret, key in read if key not in created.get(secret, set())}
    assert missing == set()
    admin = one(documents, "Deployment")["spec"]["template"]["spec"]
    mounted = {v["name"]: v for v in admin["volumes"]}
    assert mounted["admin"]["secret"]["secretName"] == "tunelab-admin"


@pytest.mark.parametrize("name", OVERLAYS)
def test_each_overlay_submits_a_sweep_its_trainers_can_hold(name: str) -> None:
    """The gpu overlay's sweep asks for a GPU per trial (a CPU spec would leave the GPUs idle),
    the cpu overlay's for none; and one trial fits one trainer."""
    from tunelab.cli import build_parser
    from tunelab.spec import load_spec

    documents = overlay(name)
    entrypoint = shlex.split(one(documents, "RayJob")["spec"]["entrypoint"])
    spec = load_spec(
        REPO / build_parser().parse_args(entrypoint[1:]).spec.removeprefix("/opt/tunelab/")
    )
    resources = spec.spec.resources
    [trainers] = one(documents, "RayCluster")["spec"]["workerGroupSpecs"]
    container = trainers["template"]["spec"]["containers"][0]["resources"]
    gpus = int(container.get("limits", {}).get("nvidia.com/gpu", 0))
    assert (resources.trial_gpu > 0) == (name == "gpu") == (gpus > 0)
    assert resources.trial_cpu <= float(container["requests"]["cpu"])
    assert resources.trial_gpu <= gpus or gpus == 0


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_registry_and_the_storage_class_are_the_overlays_settings(name: str) -> None:
    """Each image a pod runs is named in the overlay's own `images:` (the base names none), and
    the results claim is one every Ray pod can mount: ReadWriteMany of a class the overlay
    names, or (cpu, one node) the default class's ReadWriteOnce."""
    folder = DEPLOY / "kubernetes" / "overlays" / name
    settings = yaml.safe_load((folder / "kustomization.yaml").read_text())
    pulled = {f"{i['newName']}:{i['newTag']}" for i in settings["images"]}
    documents = overlay(name)
    used = {
        container["image"]
        for d in documents
        for container in containers_of(d)
        if not container["image"].startswith("postgres:")
    }
    assert used == pulled
    base = (DEPLOY / "kubernetes" / "base").glob("*.yaml")
    assert not [f.name for f in base if "registry.example.com" in f.read_text()]
    claim = one(documents, "PersistentVolumeClaim", "tunelab-results")["spec"]
    if name == "gpu":
        assert claim["accessModes"] == ["ReadWriteMany"] and claim["storageClassName"]
    else:
        assert claim["accessModes"] == ["ReadWriteOnce"] and "storageClassName" not in claim


def containers_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(node.get("containers", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found
