"""The dashboards against a live sweep: a real Prometheus (Debian's) scrapes the in-process
Ray's metrics port (tunelab's sweep metrics with Ray's own) and the authenticated tracking
server's /metrics, with dashboards/prometheus/local.yml's jobs pointed at this session's ports.
Every panel's query, its variables filled in as Grafana would, must return at least one series
over the time the sweep ran; the few that read what this machine has not (GPUs, Ray's
autoscaler) must be valid PromQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.dashboards.conftest import PROMETHEUS, load_build, prometheus_binary
from tests.server.conftest import ADMIN, free_port

pytestmark = pytest.mark.e2e

SPEC = """
name: watched
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 4, max_epochs: 12, concurrency: 2}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
  width: {type: int, low: 64, high: 256}
"""
RATE_INTERVAL = "15s"  # $__rate_interval, as Grafana works it out for 1 s scrapes


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        body = get_json(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        assert body["status"] == "success", body
        return body["data"]

    def wait_for(self, what: str, check: Any, timeout: float = 90) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(1)
        raise TimeoutError(f"Prometheus: {what} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def prometheus(
    ray_session: int, server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Prometheus on a free localhost port, scraping every second with local.yml's jobs and
    alert rules: Ray in this process, and the tracking server as its admin."""
    binary = prometheus_binary("prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    password = folder / "tracking-password"
    password.write_text(ADMIN[1])
    config = yaml.safe_load((PROMETHEUS / "local.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"ray", "tunelab-tracking"}
    jobs["ray"]["static_configs"] = [{"targets": [f"127.0.0.1:{ray_session}"]}]
    tracking = urllib.parse.urlsplit(server["url"]).netloc
    jobs["tunelab-tracking"]["static_configs"] = [{"targets": [tracking]}]
    jobs["tunelab-tracking"]["basic_auth"] = {"username": ADMIN[0], "password_file": str(password)}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = folder / "prometheus.log"
    process = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}",
         f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        prometheus = Prometheus(f"http://127.0.0.1:{port}")

        def targets_up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{log.read_text()[-2000:]}")
            try:
                active = prometheus.api("targets")["activeTargets"]
            except OSError:
                return False
            return len(active) == 2 and all(t["health"] == "up" for t in active)

        prometheus.wait_for("both targets up (the tracking server's as a user)", targets_up)
        yield prometheus
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def watched_sweep(
    prometheus: Prometheus, server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A sweep through the tracking server while Prometheus scrapes; the time it ran."""
    from tunelab.spec import parse_spec
    from tunelab.sweeps import Stores, run_sweep

    folder = tmp_path_factory.mktemp("watched")
    started = time.time()
    # A request the server answers 404 (a run that does not exist), as a client's mistake
    # would be: the Errors panel has a series to show.
    credentials = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        get_json(
            f"{server['url']}/api/2.0/mlflow/runs/get?run_id=0123456789abcdef0123456789abcdef",
            {"Authorization": f"Basic {credentials}"},
        )
    assert missing.value.code == 404
    before = Path.cwd()
    os.chdir(folder)
    try:
        report = run_sweep(
            parse_spec(SPEC, "watched.yaml", {"--name": "watched"}),
            stores=Stores.resolve(
                tracking_uri=server["url"],
                database_uri=server["database_uri"],
                results_dir=str(folder / "results"),
            ),
            live=False,
        )
    finally:
        os.chdir(before)
    assert report.counts["completed"] == 4

    seen: list[Any] = []

    def ended_seen() -> bool:  # the sweep's last levels exported by Ray and scraped
        # Ray stops exporting a gauge some seconds after its last set, and the sweep goes on
        # writing to the tracking server after its last levels: so the last value scraped.
        query = 'last_over_time(ray_tunelab_trials{sweep="watched"}[10m])'
        result = prometheus.api("query", query=query)["result"]
        seen[:] = [(r["metric"], r["value"][1]) for r in result]
        completed = [float(r["value"][1]) for r in result if r["metric"]["state"] == "completed"]
        return sum(completed) == 4

    # Ray exports the driver's gauges every few seconds; a loaded 2-core machine lags
    try:
        prometheus.wait_for("the sweep's 4 completed trials", ended_seen, timeout=180)
    except TimeoutError as error:
        raise TimeoutError(f"{error}; ray_tunelab_trials scraped: {seen}") from None
    return {"name": "watched", "start": started, "end": time.time(), "report": report}


def test_every_panel_shows_the_live_sweep(
    prometheus: Prometheus, watched_sweep: dict[str, Any], tmp_path: Path
) -> None:
    build = load_build()
    sweeps = prometheus.api("label/sweep/values", **{"match[]": "ray_tunelab_trials"})
    assert watched_sweep["name"] in sweeps  # the $sweep variable offers it
    nodes = prometheus.api("label/instance/values", **{"match[]": "ray_node_cpu_count"})
    assert len(nodes) == 1  # the $node variable: this machine's Ray
    values = {"$sweep": watched_sweep["name"], "$node": nodes[0]}
    values["$__rate_interval"] = RATE_INTERVAL
    ran: list[dict[str, Any]] = []
    for dashboard in build.DASHBOARDS:
        for panel in dashboard.panels:
            for query in panel.queries:
                expr = query.expr
                for name, value in values.items():
                    expr = expr.replace(name, value)
                result = prometheus.api(
                    "query_range",
                    query=expr,
                    start=f"{watched_sweep['start']:.3f}",
                    end=f"{watched_sweep['end']:.3f}",
                    step="1",
                )["result"]
                ran.append(
                    {
                        "dashboard": dashboard.title,
                        "panel": panel.title,
                        "query": expr,
                        "series": len(result),
                        "needs": query.needs,
                    }
                )
    (tmp_path / "panels.json").write_text(json.dumps(ran, indent=2))
    print(f"each panel's query and its series: {tmp_path / 'panels.json'}")
    empty = [r for r in ran if r["series"] == 0 and r["needs"] is None]
    assert empty == [], "panels with nothing to show during a live sweep"
    # No GPU and no autoscaler here: those queries ran (valid PromQL), and found nothing.
    assert {r["needs"] for r in ran if r["series"] == 0} == {"gpu", "autoscaler"}


def test_the_sweep_series_say_what_the_sweep_did(
    prometheus: Prometheus, watched_sweep: dict[str, Any]
) -> None:
    """What the dashboards plot is the sweep's own account: 4 trials ended completed, each of
    their 12 epochs counted once, the best the best trial's final value (the one the summary and
    promote go by)."""

    def value(aggregate: str, series: str) -> float:
        """The aggregate of each series' last scraped value (Ray stops exporting a sweep's
        series some seconds after their last change)."""
        query = f"{aggregate}(last_over_time({series}[10m]))"
        [result] = prometheus.api("query", query=query)["result"]
        return float(result["value"][1])

    sweep = 'sweep="watched"'
    assert value("sum", f'ray_tunelab_trials{{{sweep}, state="completed"}}') == 4
    assert value("sum", f'ray_tunelab_trials{{{sweep}, state="running"}}') == 0
    assert value("sum", f"ray_tunelab_epochs_total{{{sweep}}}") == 4 * 12
    assert value("max", f'ray_tunelab_budget_spent{{{sweep}, resource="epochs"}}') == 4 * 12
    assert value("sum", f"ray_tunelab_trial_seconds_count{{{sweep}}}") == 4
    best = watched_sweep["report"].best["metric"]
    assert value("max", f"ray_tunelab_best{{{sweep}}}") == pytest.approx(best, rel=1e-6)
