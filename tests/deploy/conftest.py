"""The deployment files as a cluster would receive them: each kustomize overlay built by
`kubectl kustomize`, and validators for what is in them (strict KubeRay CRD schemas)."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERAY = REPO / "tests" / "schemas" / "kuberay"
OVERLAYS = ("cpu", "gpu")
KUBERNETES_VERSION = "1.32.0"


def kustomize_build(folder: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize` builds from `folder`."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (.ci/run installs it)")
    version = subprocess.run(
        [kubectl, "version", "--client"], capture_output=True, text=True, timeout=60
    ).stdout
    found = re.search(r"Kustomize Version: v(\d+)", version)
    if found is None or int(found[1]) < 4:
        pytest.skip(f"kubectl's kustomize is older than v4: {version.strip()!r}")
    built = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@functools.cache
def overlay(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize_build(DEPLOY / "kubernetes" / "overlays" / name))


def one(documents: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict:
    [found] = [
        d
        for d in documents
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    return found


def strict(schema: Any) -> Any:
    """A CRD's OpenAPI schema as a strict JSON Schema: objects that list their properties accept
    no others; int-or-string is either."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: strict(v) for k, v in schema.items()}
    if result.pop("x-kubernetes-int-or-string", False):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@functools.cache
def crd_validator(kind: str) -> Any:
    """A validator of `kind` (RayCluster, RayJob) against KubeRay's CRD, made strict."""
    import jsonschema

    file = KUBERAY / f"ray.io_{kind.lower()}s.yaml"
    crd = yaml.safe_load(file.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is the API server's; the CRD leaves it open.
    return jsonschema.Draft7Validator(schema)


def crd_errors(document: dict[str, Any]) -> list[str]:
    validator = crd_validator(document["kind"])
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def secret_commands(readme: str) -> dict[str, set[str]]:
    """Each Secret the README's `kubectl create secret generic` commands make, with its keys."""
    text = readme.replace("\\\n", " ")
    made: dict[str, set[str]] = {}
    for match in re.finditer(r"create secret generic (\S+)([^\n]*)", text):
        keys = re.findall(r"--from-(?:literal|file)=([\w.-]+)=", match[2])
        made.setdefault(match[1], set()).update(keys)
    return made
