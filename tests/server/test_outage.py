"""The tracking server goes away for about 10 s in the middle of a sweep: the sweep goes on,
what could not be sent is kept on disk and sent once the server is back, exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from tests.server.conftest import ServerProcess

from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

EPOCHS = 25
SPEC = f"""
name: outage-sweep
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: 2, max_epochs: {EPOCHS}, concurrency: 2}}
searcher: random
scheduler: fifo
system_metrics: {{interval_s: 0.5}}
space:
  lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
  channels: 32
"""


def test_a_ten_second_outage_loses_nothing_and_duplicates_nothing(
    ray_session, postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    server = ServerProcess(postgres, tmp_path / "artifacts", tmp_path / "server.log")
    server.start()
    client = MlflowClient(server.url)
    outage: dict[str, float] = {}

    def take_the_server_away() -> None:
        """Once trials are reporting, stop the server for 10 s, then start it again."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            experiment = client.get_experiment_by_name("tunelab")
            runs = experiment and client.search_runs(
                [experiment.experiment_id],
                "tags.`tunelab.sweep` = 'outage-sweep' and tags.`tunelab.role` = 'trial'",
            )
            if runs and any("val_accuracy" in r.data.metrics for r in runs):
                break
            time.sleep(0.3)
        outage["stopped"] = time.monotonic()
        server.stop()
        time.sleep(10)
        server.start()
        outage["back"] = time.monotonic()

    chaos = threading.Thread(target=take_the_server_away, daemon=True)
    chaos.start()
    try:
        report = run_sweep(
            parse_spec(SPEC, "outage.yaml", {"--name": "outage-sweep"}),
            stores=Stores.resolve(tracking_uri=server.url, results_dir=str(tmp_path / "results")),
            live=False,
        )
        chaos.join(timeout=180)
    finally:
        server.stop()
        server.start()

    try:
        assert "back" in outage, "the outage never happened"
        assert report.pending_writes is None and report.failed_writes == []
        assert report.counts["completed"] == 2

        experiment = client.get_experiment_by_name("tunelab")
        runs = client.search_runs(
            [experiment.experiment_id], "tags.`tunelab.sweep` = 'outage-sweep'"
        )
        parents = [r for r in runs if r.data.tags["tunelab.role"] == "sweep"]
        children = [r for r in runs if r.data.tags["tunelab.role"] == "trial"]
        assert len(parents) == 1 and len(children) == 2  # no run created twice
        assert parents[0].info.status == "FINISHED"
        for child in children:
            assert child.info.status == "FINISHED"
            for metric in ("train_loss", "val_loss", "val_accuracy"):
                steps = [m.step for m in client.get_metric_history(child.info.run_id, metric)]
                assert sorted(steps) == list(range(1, EPOCHS + 1)), metric  # each exactly once
            system = client.get_metric_history(
                child.info.run_id, "system/cpu_utilization_percentage"
            )
            assert sorted(m.step for m in system) == list(range(len(system)))
        # Some of those points were written during the outage and sent afterwards.
        sent_late = [
            m
            for child in children
            for m in client.get_metric_history(child.info.run_id, "val_accuracy")
            if m.timestamp / 1000 > time.time() - (time.monotonic() - outage["stopped"])
            and m.timestamp / 1000 < time.time() - (time.monotonic() - outage["back"])
        ]
        assert sent_late, "no epoch ended during the outage; the sweep was too short"
    finally:
        server.stop()
