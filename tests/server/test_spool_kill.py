"""The tracking server goes away, the sweep keeps its writes on disk, and then the driver is
SIGKILLed too. Once the server is back, `tunelab resume` sends what was kept, exactly once,
and goes on: every epoch of every trial is recorded once, the kept ones as they were made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tests.conftest import kill_machine
from tests.server.conftest import ServerProcess

pytestmark = pytest.mark.e2e

TRIALS, EPOCHS = 2, 100
SPEC = f"""
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: {TRIALS}, max_epochs: {EPOCHS}, concurrency: 2}}
searcher: random
scheduler: fifo
space:
  lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
  batch_size: 16
"""


def kept_points(spool: Path) -> dict[tuple[str, int], int]:
    """(run id, step) -> timestamp of each val_accuracy point the spool holds for a run that
    existed before the outage."""
    lines = spool.read_bytes().split(b"\n")
    header = json.loads(lines[0])
    points = {}
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the last line, still being written
        run_id = header["run_ids"].get(record.get("key"))
        for name, _value, ms, step in record.get("metrics") or []:
            if run_id and name == "val_accuracy":
                points[(run_id, step)] = ms
    return points


def test_a_driver_killed_during_an_outage_loses_no_point_and_repeats_none(
    postgres: str, tmp_path: Path
) -> None:
    server = ServerProcess(postgres, tmp_path / "artifacts", tmp_path / "server.log")
    server.start()
    client = MlflowClient(server.url)
    (tmp_path / "spec.yaml").write_text(SPEC)
    flags = ["--tracking-uri", server.url, "--results-dir", str(tmp_path / "results")]
    env = {**os.environ, "TUNELAB_HEARTBEAT_S": "1"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml", "--name", "spool-kill",
         "--json", *flags],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    spool = tmp_path / "results" / "spool-kill" / "tracking_spool.jsonl"
    try:
        deadline = time.monotonic() + 300
        while True:  # both trials recording
            assert driver.poll() is None, driver.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the trials never reported"
            experiment = client.get_experiment_by_name("tunelab")
            runs = experiment and client.search_runs(
                [experiment.experiment_id],
                "tags.`tunelab.sweep` = 'spool-kill' and tags.`tunelab.role` = 'trial'",
            )
            if runs and len(runs) == TRIALS and all(r.data.metrics for r in runs):
                break
            time.sleep(0.3)
        server.stop()
        deadline = time.monotonic() + 120
        while not spool.exists() or len(kept_points(spool)) < 2:  # epochs kept on disk
            assert driver.poll() is None, driver.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no epoch was kept during the outage"
            time.sleep(0.2)
        kill_machine(driver.pid)
        driver.wait(timeout=30)
        kept = kept_points(spool)

        server.start()
        time.sleep(3.5)  # its heartbeat, as the server last heard it, is stale
        resumed = subprocess.run(
            [sys.executable, "-m", "tunelab.cli", "resume", "spool-kill", "--json", *flags],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
        summary = json.loads(resumed.stdout.strip().splitlines()[-1])
        assert summary["trials"]["completed"] == TRIALS

        experiment = client.get_experiment_by_name("tunelab")
        runs = client.search_runs([experiment.experiment_id], "tags.`tunelab.sweep` = 'spool-kill'")
        children = [r for r in runs if r.data.tags["tunelab.role"] == "trial"]
        assert len(runs) == 1 + TRIALS and len(children) == TRIALS  # no run created twice
        found = {}
        for run in children:
            assert run.info.status == "FINISHED"
            history = client.get_metric_history(run.info.run_id, "val_accuracy")
            steps = [m.step for m in history]
            assert sorted(steps) == list(range(1, EPOCHS + 1)), (run.info.run_name, steps)
            found.update({(run.info.run_id, m.step): m.timestamp for m in history})
        # Every point kept on disk arrived, as it was made (not trained again after the resume).
        assert {key: found.get(key) for key in kept} == kept
        print(f"kept on disk at the kill: {len(kept)} val_accuracy points; found after resume: "
              f"{len(found)} of {TRIALS * EPOCHS} expected, each once")  # fmt: skip
        assert not spool.exists() and not spool.with_name(spool.name + ".sent").exists()
    finally:
        if driver.poll() is None:
            kill_machine(driver.pid)
        server.stop()
