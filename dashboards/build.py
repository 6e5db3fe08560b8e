"""tunelab's Grafana dashboards, as code: `python dashboards/build.py` writes them to
dashboards/grafana/. Each panel is a title, a unit and its PromQL queries; everything else is
Grafana's layout. The queries read tunelab's own metrics (`ray_tunelab_*`, published by the sweep
through Ray's metrics API), Ray's (`ray_*`, `autoscaler_*`) and the tracking server's
(`mlflow_*`, `tunelab server --expose-prometheus`).

Variables: `$datasource` (a Prometheus), `$sweep` (tunelab's sweeps, from their own metrics),
`$node` (a Ray node, as Prometheus's `instance`). `$__rate_interval` is Grafana's."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "grafana"
SCHEMA_VERSION = 41
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24  # Grafana's grid
SWEEP = 'sweep=~"$sweep"'
NODE = 'instance=~"$node"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str
    # What it reads that not every cluster has: "gpu" (no series on a machine without GPUs),
    # "autoscaler" (none without Ray's autoscaler). None: every running sweep has series.
    needs: str | None = None


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: list[Query]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    height: int = 8
    stacked: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: list[Panel]
    variables: list[str] = field(default_factory=list)  # "sweep", "node"

    @property
    def file(self) -> Path:
        return FOLDER / f"{self.uid.removeprefix('tunelab-')}.json"


def q(expr: str, legend: str, needs: str | None = None) -> Query:
    return Query(expr, legend, needs)


SWEEPS = Dashboard(
    uid="tunelab-sweeps",
    title="tunelab / Sweeps",
    description="What each sweep is doing: its trials, its best so far, its pace and its budget.",
    variables=["sweep"],
    panels=[
        Panel(
            "Trials by state",
            "Trials waiting for resources, running, and ended by each outcome.",
            [q(f"sum by (state) (ray_tunelab_trials{{{SWEEP}}})", "{{state}}")],
            stacked=True,
        ),
        Panel(
            "Best so far",
            "The best value of each sweep's metric reported so far.",
            [q(f"max by (sweep, metric) (ray_tunelab_best{{{SWEEP}}})", "{{sweep}} {{metric}}")],
        ),
        Panel(
            "Epochs and results per minute",
            "Epochs trained (a retried trial's repeats not counted), and every result reported.",
            [
                q(
                    f"sum by (sweep) (rate(ray_tunelab_epochs_total{{{SWEEP}}}[$__rate_interval])) * 60",
                    "{{sweep}} epochs",
                ),
                q(
                    f"sum by (sweep) (rate(ray_tunelab_results_total{{{SWEEP}}}[$__rate_interval])) * 60",
                    "{{sweep}} results",
                ),
            ],
        ),
        Panel(
            "Budget burn",
            "Each cap the spec sets (trials always): the share used so far.",
            [
                q(
                    f"max by (sweep, resource) (ray_tunelab_budget_spent{{{SWEEP}}})"
                    f" / max by (sweep, resource) (ray_tunelab_budget_cap{{{SWEEP}}})",
                    "{{sweep}} {{resource}}",
                )
            ],
            unit="percentunit",
        ),
        Panel(
            "Failures and retries",
            "Trials whose own code failed, and restarts of trials whose worker or node died.",
            [
                q(
                    f'sum by (sweep) (ray_tunelab_trials{{{SWEEP}, state="failed"}})',
                    "{{sweep}} failed",
                ),
                q(f"sum by (sweep) (ray_tunelab_trial_retries{{{SWEEP}}})", "{{sweep}} retries"),
            ],
        ),
        Panel(
            "Trial duration",
            "How long the sweep's ended trials ran: the median and the 90th percentile so far.",
            [
                q(
                    f"histogram_quantile({p}, sum by (sweep, le) (ray_tunelab_trial_seconds_bucket{{{SWEEP}}}))",
                    f"{{{{sweep}}}} p{round(p * 100)}",
                )
                for p in (0.5, 0.9)
            ],
            unit="s",
        ),
        Panel(
            "Compute spent",
            "Trial time times the resources each trial holds.",
            [
                q(
                    f'max by (sweep, resource) (ray_tunelab_budget_spent{{{SWEEP}, resource=~"cpu_hours|gpu_hours"}})',
                    "{{sweep}} {{resource}}",
                )
            ],
        ),
        Panel(
            "Epochs trained",
            "Every trial's epochs together.",
            [
                q(
                    f'max by (sweep) (ray_tunelab_budget_spent{{{SWEEP}, resource="epochs"}})',
                    "{{sweep}}",
                )
            ],
            kind="stat",
        ),
    ],
)

CLUSTER = Dashboard(
    uid="tunelab-cluster",
    title="tunelab / Cluster",
    description="The Ray cluster the sweeps run on: its GPUs, CPUs, memory and object store, "
    "nodes waiting to start, and workers that failed.",
    variables=["node"],
    panels=[
        Panel(
            "GPU utilisation",
            "Each GPU of each node.",
            [
                q(
                    f"avg by (instance, GpuIndex, GpuDeviceName) (ray_node_gpus_utilization{{{NODE}}})",
                    "{{instance}} GPU {{GpuIndex}}",
                    needs="gpu",
                )
            ],
            unit="percent",
        ),
        Panel(
            "GPU memory used",
            "Each GPU of each node (Ray reports megabytes).",
            [
                q(
                    f"sum by (instance, GpuIndex) (ray_node_gram_used{{{NODE}}}) * 1024 * 1024",
                    "{{instance}} GPU {{GpuIndex}}",
                    needs="gpu",
                )
            ],
            unit="bytes",
        ),
        Panel(
            "CPU utilisation",
            "Each node's CPUs, all together.",
            [q(f"avg by (instance) (ray_node_cpu_utilization{{{NODE}}})", "{{instance}}")],
            unit="percent",
        ),
        Panel(
            "Memory used",
            "Each node's memory.",
            [q(f"sum by (instance) (ray_node_mem_used{{{NODE}}})", "{{instance}}")],
            unit="bytes",
        ),
        Panel(
            "Object store",
            "What each node's object store holds (datasets, checkpoints in flight) and its size.",
            [
                q(
                    f"sum by (instance) (ray_object_store_used_memory{{{NODE}}})",
                    "{{instance}} used",
                ),
                q(
                    f'sum by (instance) (ray_resources{{Name="object_store_memory", {NODE}}})',
                    "{{instance}} size",
                ),
            ],
            unit="bytes",
        ),
        Panel(
            "Resources in use",
            "CPUs and GPUs held by trials, against what the cluster has.",
            [
                q(
                    f'sum by (Name, State) (ray_resources{{Name=~"CPU|GPU", {NODE}}})',
                    "{{Name}} {{State}}",
                )
            ],
            stacked=True,
        ),
        Panel(
            "Nodes: active and pending",
            "Nodes up, and nodes the autoscaler is starting (a cluster with an autoscaler).",
            [
                q("sum(ray_cluster_active_nodes)", "active"),
                q(
                    "sum by (NodeType) (autoscaler_pending_nodes)",
                    "pending {{NodeType}}",
                    needs="autoscaler",
                ),
            ],
        ),
        Panel(
            "Worker failures",
            "Workers that failed to start, by reason.",
            [
                q(
                    f"sum by (instance, Reason) (increase(ray_scheduler_failed_worker_startup_total{{{NODE}}}[$__rate_interval]))",
                    "{{instance}} {{Reason}}",
                )
            ],
        ),
    ],
)

TRACKING = Dashboard(
    uid="tunelab-tracking-server",
    title="tunelab / Tracking server",
    description="The MLflow tracking server (`tunelab server --expose-prometheus`), and what "
    "each sweep's writer has not sent it yet.",
    variables=["sweep"],
    panels=[
        Panel(
            "Request rate",
            "Requests the tracking server answered, by method.",
            [
                q(
                    "sum by (method) (rate(mlflow_http_request_total[$__rate_interval]))",
                    "{{method}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Errors",
            "Requests answered with a 4xx or 5xx status, by status.",
            [
                q(
                    'sum by (status) (rate(mlflow_http_request_total{status=~"[45].."}[$__rate_interval]))',
                    "{{status}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Latency, 95th percentile",
            "How long the server took to answer.",
            [
                q(
                    "histogram_quantile(0.95, sum by (le) (rate(mlflow_http_request_duration_seconds_bucket[$__rate_interval])))",
                    "p95",
                )
            ],
            unit="s",
        ),
        Panel(
            "Sweeps' backlog",
            "Writes each sweep has queued for the server, and metric points kept on disk while "
            "the server was unreachable (sent once it is back).",
            [
                q(f"sum by (sweep) (ray_tunelab_tracking_queue{{{SWEEP}}})", "{{sweep}} queued"),
                q(
                    f"sum by (sweep) (ray_tunelab_tracking_spooled_points{{{SWEEP}}})",
                    "{{sweep}} spooled points",
                ),
            ],
        ),
    ],
)

DASHBOARDS = [SWEEPS, CLUSTER, TRACKING]

VARIABLES = {
    "sweep": ("Sweep", "label_values(ray_tunelab_trials, sweep)"),
    "node": ("Node", "label_values(ray_node_cpu_count, instance)"),
}


def _variable(name: str) -> dict:
    label, query = VARIABLES[name]
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    targets = [
        {
            "datasource": DATASOURCE,
            "expr": query.expr,
            "legendFormat": query.legend,
            "refId": chr(ord("A") + i),
        }
        for i, query in enumerate(panel.queries)
    ]
    if panel.kind == "stat":
        options: dict = {
            "graphMode": "area",
            "colorMode": "none",
            "justifyMode": "auto",
            "textMode": "value_and_name",
            "wideLayout": True,
            "showPercentChange": False,
            "reduceOptions": {"calcs": ["lastNotNull"]},
            "percentChangeColorMode": "standard",
            "orientation": "auto",
        }
        custom: dict = {}
    else:
        options = {
            "legend": {
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
                "calcs": [],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
        custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10}
        if panel.stacked:
            custom["stacking"] = {"mode": "normal", "group": "A"}
    defaults: dict = {"unit": panel.unit}
    if custom:
        defaults["custom"] = custom
    return {
        "type": panel.kind,
        "id": panel_id,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "targets": targets,
        "options": options,
        "fieldConfig": {"defaults": defaults, "overrides": []},
    }


def render(dashboard: Dashboard) -> dict:
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel(panel, panel_id, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    datasource = {
        "type": "datasource",
        "name": "datasource",
        "label": "Prometheus",
        "query": "prometheus",
        "current": {"text": "Prometheus", "value": "prometheus"},
    }
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["tunelab"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-3h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "annotations": {"list": []},
        "templating": {"list": [datasource, *(_variable(v) for v in dashboard.variables)]},
        "panels": panels,
    }


def text(dashboard: Dashboard) -> str:
    return json.dumps(render(dashboard), indent=2) + "\n"


ALERTS = Path(__file__).resolve().parent / "prometheus" / "alerts.yml"
RULE = Path(__file__).resolve().parents[1] / "deploy/kubernetes/monitoring/prometheusrule.yaml"


def prometheus_rule() -> str:
    """alerts.yml as the Prometheus Operator's PrometheusRule, for deploy/kubernetes/monitoring."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def block(dumper: yaml.SafeDumper, value: str) -> yaml.Node:  # expressions stay readable
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, block)
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        # The label kube-prometheus-stack's Prometheus selects rules by (its Helm release).
        "metadata": {"name": "tunelab", "labels": {"release": "kube-prometheus-stack"}},
        "spec": yaml.safe_load(ALERTS.read_text()),
    }
    header = (
        "# Written by dashboards/build.py from dashboards/prometheus/alerts.yml: edit that file.\n"
    )
    return header + yaml.dump(rule, Dumper=Dumper, sort_keys=False, width=100)


def main(argv: list[str]) -> int:
    """Write the dashboards and the PrometheusRule; with --check, only say whether the files are
    up to date."""
    check = "--check" in argv
    stale = []
    FOLDER.mkdir(exist_ok=True)
    outputs = [(d.file, text(d)) for d in DASHBOARDS] + [(RULE, prometheus_rule())]
    for file, wanted in outputs:
        current = file.read_text() if file.exists() else None
        if current != wanted:
            stale.append(file.name)
            if not check:
                file.write_text(wanted)
    if check and stale:
        print(f"out of date: {', '.join(stale)} (run python dashboards/build.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
