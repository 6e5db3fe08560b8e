"""The dashboards, the Prometheus configurations and the alert rules, checked offline: against
Grafana's schemas, Prometheus's own `promtool`, and the metric names each exporter defines.
That every panel's query returns series from a live sweep is tests/server/test_prometheus.py."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from types import ModuleType

import yaml
from tests.dashboards.conftest import PROMETHEUS, prometheus_binary, schema_errors

METRIC_NAME = re.compile(r"\b((?:ray|autoscaler|mlflow)_[a-z0-9_]+)\b")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|count|sum)$")


def test_the_committed_dashboards_and_rules_are_the_ones_build_py_writes(
    build: ModuleType,
) -> None:
    for dashboard in build.DASHBOARDS:
        assert dashboard.file.read_text() == build.text(dashboard), (
            f"{dashboard.file.name} is out of date: run python dashboards/build.py"
        )
    assert build.RULE.read_text() == build.prometheus_rule(), "run python dashboards/build.py"
    # What Kubernetes gets is exactly what promtool checks and tests.
    rule = yaml.safe_load(build.RULE.read_text())
    assert rule["spec"] == yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())


def test_every_dashboard_passes_grafanas_schemas(build: ModuleType) -> None:
    for dashboard in build.DASHBOARDS:
        assert schema_errors(json.loads(dashboard.file.read_text())) == [], dashboard.file.name


def test_the_schemas_reject_what_grafana_would_not_load(build: ModuleType) -> None:
    good = json.loads(build.SWEEPS.file.read_text())
    for mistake in (
        lambda d: d["panels"][0].update(titel="Trials"),  # a misspelt panel key
        lambda d: d["panels"][0]["targets"][0].update(exp=d["panels"][0]["targets"][0].pop("expr")),
        lambda d: d["panels"][0]["options"]["legend"].update(placement="top"),  # not an option
        lambda d: d["templating"]["list"][1].update(refresh=5),  # not a refresh mode
        lambda d: d.pop("schemaVersion"),
    ):
        broken = copy.deepcopy(good)
        mistake(broken)
        assert schema_errors(broken), mistake


def test_each_panel_reads_its_dashboards_variables_and_datasource(build: ModuleType) -> None:
    for dashboard in build.DASHBOARDS:
        rendered = json.loads(dashboard.file.read_text())
        defined = {v["name"] for v in rendered["templating"]["list"]}
        assert "datasource" in defined
        ids = [panel["id"] for panel in rendered["panels"]]
        assert len(set(ids)) == len(ids), f"{dashboard.uid}: panel ids repeat"
        for panel in rendered["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for target in panel["targets"]:
                used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
                assert used <= defined, f"{dashboard.uid} / {panel['title']}: {used - defined}"


def metric_names(expr: str) -> set[str]:
    return {HISTOGRAM_SUFFIX.sub("", name) for name in METRIC_NAME.findall(expr)}


def test_gpu_and_autoscaler_panels_read_names_ray_defines(build: ModuleType) -> None:
    """Panels with no series on this machine (no GPU, no autoscaler) read metrics Ray defines:
    the GPU gauges of Ray's node reporter, the autoscaler's own. (They run for real in the GPU
    check script, tests/gpu/.)"""
    from prometheus_client import CollectorRegistry
    from ray.autoscaler._private.prom_metrics import AutoscalerPrometheusMetrics
    from ray.dashboard.modules.reporter.reporter_agent import METRICS_GAUGES

    registry = CollectorRegistry()
    AutoscalerPrometheusMetrics(session_name="check", registry=registry)
    defined = {
        "gpu": {f"ray_{name}" for name in METRICS_GAUGES},
        "autoscaler": {metric.name for metric in registry.collect()},
    }
    checked = {"gpu": 0, "autoscaler": 0}
    for dashboard in build.DASHBOARDS:
        for panel in dashboard.panels:
            for query in panel.queries:
                if query.needs is not None:
                    assert metric_names(query.expr) <= defined[query.needs], query.expr
                    checked[query.needs] += 1
    assert checked == {"gpu": 2, "autoscaler": 1}


def test_every_metric_tunelab_exports_is_on_a_dashboard_and_no_other(build: ModuleType) -> None:
    from tunelab.backend import METRICS

    read = {
        name
        for dashboard in build.DASHBOARDS
        for panel in dashboard.panels
        for query in panel.queries
        for name in metric_names(query.expr)
        if name.startswith("ray_tunelab_")
    }
    assert read == set(METRICS)


def test_promtool_accepts_the_prometheus_configurations_and_rules() -> None:
    promtool = prometheus_binary("promtool")
    for config in ("prometheus.yml", "local.yml"):
        checked = subprocess.run(
            [promtool, "check", "config", config],
            cwd=PROMETHEUS, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"],
        cwd=PROMETHEUS, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 4 rules found" in rules.stdout


def test_each_alert_fires_when_it_should_and_stays_quiet_otherwise() -> None:
    """promtool runs alerts_test.yml; every alert there has a case where it fires and one
    where it stays quiet."""
    promtool = prometheus_binary("promtool")
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    cases = [
        case
        for test in yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    quiet |= {  # a case that expects some sweeps only: the others stay quiet
        case["alertname"]
        for case in cases
        if case["exp_alerts"] and all("sweep" in a["exp_labels"] for a in case["exp_alerts"])
    }
    assert fires == alerts
    assert quiet == alerts
