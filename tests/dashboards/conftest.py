"""dashboards/ as its tests see it: the build script's definitions, Prometheus's `promtool`, and
the validators for Grafana's schemas (tests/schemas/grafana/)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "dashboards" / "prometheus"
GRAFANA_SCHEMAS = REPO / "tests" / "schemas" / "grafana"


def load_build() -> ModuleType:
    """dashboards/build.py, imported from its file (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "tunelab_dashboards", REPO / "dashboards/build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build() -> ModuleType:
    return load_build()


def prometheus_binary(name: str) -> str:
    """Debian's `prometheus` or `promtool` (.ci/run installs the package)."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run installs Debian's prometheus")
        pytest.skip(f"{name} is not installed (.ci/run installs Debian's prometheus)")
    return found


def validator(kind: str, definition: str | None = None) -> jsonschema.Draft7Validator:
    """A validator for one of Grafana's schemas, or for one definition in it."""
    schema: dict[str, Any] = json.loads((GRAFANA_SCHEMAS / f"{kind}.jsonschema.json").read_text())
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return jsonschema.Draft7Validator(schema)


def schema_errors(dashboard: dict[str, Any]) -> list[str]:
    """Everything in a dashboard that Grafana's schemas reject: the dashboard, each panel's
    options and field config (by its kind), each query (Prometheus's)."""
    found = list(validator("dashboard").iter_errors(dashboard))
    query = validator("prometheus")
    for panel in dashboard.get("panels", []):
        found += validator(panel["type"], "Options").iter_errors(panel.get("options", {}))
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            found += validator(panel["type"], "FieldConfig").iter_errors(custom)
        for target in panel.get("targets", []):
            found += query.iter_errors(target)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
