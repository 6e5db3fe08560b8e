"""Two sweeps started at once in one folder: both run, under names of their own, and both write
everything to the one SQLite store they share (a write the other holds the lock for waits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.e2e

SPEC = """
name: twin
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 3, max_epochs: 6, concurrency: 1}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
"""


def test_two_sweeps_at_once_both_record_everything(tmp_path: Path) -> None:
    (tmp_path / "twin.yaml").write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "tunelab.cli", "sweep", "twin.yaml", "--json"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    sweeps = [subprocess.Popen(command, cwd=tmp_path, env=env, **pipes) for _ in range(2)]
    summaries = []
    for sweep in sweeps:
        out, err = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, err[-3000:]
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    names = {s["sweep"] for s in summaries}
    assert len(names) == 2 and all(name.startswith("twin-") for name in names)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tunelab")
    for summary in summaries:
        assert summary["trials"]["completed"] == 3
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`tunelab.role` = 'trial' and tags.`tunelab.sweep` = '{summary['sweep']}'",
        )
        assert sorted(r.info.run_name for r in runs) == ["trial-000", "trial-001", "trial-002"]
        for run in runs:
            assert run.info.status == "FINISHED"
            history = client.get_metric_history(run.info.run_id, "val_accuracy")
            assert sorted(m.step for m in history) == list(range(1, 7))
        parent = client.get_run(summary["parent_run_id"])
        assert parent.info.status == "FINISHED"
