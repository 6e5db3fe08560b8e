"""A machine of the cluster dies mid-sweep: the trial it was training restarts from its last
checkpoint on another node, in the same MLflow run, and nothing is written twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from localcluster import live_nodes
from mlflow import MlflowClient

pytestmark = pytest.mark.cluster

EPOCHS = 80  # about 12 s a trial here: the node is lost while its trial trains, even on a
# slower machine whose tracking lags a few seconds behind the training
SPEC = """
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 3, max_epochs: 80, concurrency: 2}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  batch_size: 16
"""


def trial_runs(client: MlflowClient, sweep: str) -> list[Any]:
    experiment = client.get_experiment_by_name("tunelab")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id],
        f"tags.`tunelab.role` = 'trial' and tags.`tunelab.sweep` = '{sweep}'",
    )


def test_a_trial_on_a_lost_node_is_retried_from_its_checkpoint(
    cluster: Any, tmp_path: Path
) -> None:
    # No trial on the head; two worker nodes of one CPU each, one of them to be lost.
    cluster.add_node("--num-cpus=0", head=True)
    cluster.add_node("--num-cpus=1")
    victim = cluster.add_node("--num-cpus=1", '--resources={"victim": 1}')
    nodes = live_nodes(cluster.address, cluster.env)
    victim_id = next(n["id"] for n in nodes if "victim" in n["resources"])

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "spec.yaml").write_text(SPEC)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml",
         "--address", cluster.address, "--name", "node-loss", "--tracking-uri", uri,
         "--results-dir", str(tmp_path / "results"), "--json"],
        env=cluster.env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = MlflowClient(uri)
    # Wait until a trial on the doomed node has recorded two epochs (and checkpointed them).
    deadline = time.monotonic() + 300
    doomed = None
    while doomed is None:
        assert sweep.poll() is None, sweep.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial trained on the node to be lost"
        for run in trial_runs(client, "node-loss"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
            if run.data.tags.get("tunelab.node") == victim_id and len(steps) >= 2:
                doomed, trained = run.info.run_id, len(steps)
        time.sleep(0.5)
    cluster.kill(victim)
    # Else the test would prove nothing: the trial must have been cut short by the loss.
    assert trained < EPOCHS and client.get_run(doomed).info.status == "RUNNING", trained

    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == 3 and sum(summary["trials"].values()) == 3

    runs = trial_runs(client, "node-loss")
    assert sorted(r.info.run_name for r in runs) == ["trial-000", "trial-001", "trial-002"]
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, EPOCHS + 1)), (run.info.run_name, steps)
    retried = client.get_run(doomed).data.tags
    assert retried.get("tunelab.retries") == "1", (trained, retried, err[-3000:])
    assert retried["tunelab.retry_reason"].startswith(("node_lost", "worker_crashed"))
    assert retried["tunelab.node"] != victim_id, retried  # it finished on the other node
    # It resumed from its checkpoint: the first epoch it trained after the loss was not the
    # first, but the one after the last it had recorded (at least 2 by then).
    assert 3 <= int(retried["tunelab.resumed_at_epoch"]) <= EPOCHS
