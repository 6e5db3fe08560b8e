"""The driver is killed mid-sweep (SIGKILL: a lost laptop, an OOM kill). What the sweep had
finished is usable before anything else happens: its spec and a summary so far are on the
parent run, so its best finished trial can be explained and promoted."""

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

from tunelab.sweeps import is_stale

pytestmark = pytest.mark.e2e

SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 12, max_epochs: 15, concurrency: 1}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
  width: {type: int, low: 16, high: 64}
"""


def tunelab(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunelab.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_killed_sweeps_finished_trials_can_be_reported_and_promoted(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # The store made first: this test and the driver making its tables at once would race.
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.search_experiments()
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml", "--name", "killed", "--json"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,  # the driver and the Ray it started: killed together
    )  # fmt: skip
    deadline = time.monotonic() + 240
    summary = None
    while summary is None or not summary["top"]:
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial finished"
        time.sleep(0.5)
        parents = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            "tags.`tunelab.role` = 'sweep'",
        )  # fmt: skip
        if parents and any(a.path == "sweep_summary.json"
                           for a in client.list_artifacts(parents[0].info.run_id)):  # fmt: skip
            path = client.download_artifacts(
                parents[0].info.run_id, "sweep_summary.json", str(tmp_path)
            )
            summary = json.loads(Path(path).read_text())
    kill_machine(driver.pid)
    driver.wait(timeout=30)

    parent = client.get_run(parents[0].info.run_id)
    assert parent.info.status == "RUNNING"  # nobody was left to end it
    assert is_stale(parent.data.tags["tunelab.heartbeat"], now=time.time() + 3600)
    assert not is_stale(parent.data.tags["tunelab.heartbeat"])  # beat while trials ran
    assert summary["state"] == "running" and summary["trials"]["completed"] >= 1
    assert {"spec.yaml", "sweep_summary.json"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)
    }
    promoted = tunelab(["promote", "killed", "--model-name", "killed-best"], tmp_path)
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    version = client.get_model_version_by_alias("killed-best", "champion")
    assert version.run_id == summary["best"]["run_id"]
    reported = tunelab(["report", "killed", "--examples", "32"], tmp_path)
    assert reported.returncode == 0, reported.stderr[-2000:]
    assert f"logged to run {summary['best']['run_id']}" in reported.stdout
