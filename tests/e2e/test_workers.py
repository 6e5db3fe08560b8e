"""Data-parallel trials end to end: each trial trained by two gloo workers (Ray Train) is one
trial to the sweep (one run, its metrics from the first worker, one checkpoint an epoch), trains
what the same trial trains alone, and goes on from its checkpoint when a worker is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from tunelab.errors import TunelabError
from tunelab.promotion import reproduce
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

SPEC = """
model: mlp
dataset: breast_cancer
metric: val_accuracy
mode: max
seed: 2
budget: {{trials: {trials}, max_epochs: {epochs}}}
resources: {{cpu: 0.5, workers: 2}}
searcher: random
scheduler: {scheduler}
checkpoints: {{keep: null}}
system_metrics: {{interval_s: 0}}
space:
  lr: {{type: categorical, choices: [1.0e-2, 1.0e-6]}}  # seed 2: 1e-2 three times, then 1e-6
  width: 16
  batch_size: 32
  dropout: 0.0
"""


def children(client: MlflowClient, sweep: str) -> list:
    """The sweep's trial runs (none before its experiment exists)."""
    experiment = client.get_experiment_by_name("tunelab")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], f"tags.`tunelab.sweep` = '{sweep}'")
    return [r for r in runs if r.data.tags.get("tunelab.role") == "trial"]


def workers_running() -> list[str]:
    """The process ids of Ray Train's workers on this machine."""
    found = subprocess.run(["pgrep", "-f", "ray::RayTrainWorker"], capture_output=True, text=True)
    return found.stdout.split()


def trained_alone(config: dict, data, arch, epochs: int) -> tuple[dict, dict]:
    """The metrics and checkpoint state of the trial's last epoch, trained by one worker."""
    from tunelab.training import train

    alone: list = []
    train(config, data, arch, max_epochs=epochs, report=lambda _, m, s: alone.append((m, s)))
    return alone[-1]


def test_a_trial_of_two_workers_is_one_trial_that_trains_as_one_worker(ray_session, store) -> None:
    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training import load_checkpoint

    asha = "{type: asha, grace_period: 1, reduction_factor: 2}"
    loaded = parse_spec(
        SPEC.format(trials=4, epochs=3, scheduler=asha), "ddp.yaml", {"--name": "e2e-ddp"}
    )
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    counts = report.counts
    assert counts["completed"] + counts["stopped_early"] == 4 and counts["stopped_early"], counts
    # The workers of a trial ASHA stopped end with it: none is left holding its CPUs.
    deadline = time.monotonic() + 30
    while workers_running() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert workers_running() == []
    client = MlflowClient(store["tracking_uri"])
    parent = client.get_run(report.parent_run_id)
    assert parent.data.params["workers_per_trial"] == "2"
    assert parent.data.params["cpu_per_trial"] == "1.0"  # both workers' CPUs
    torch.set_num_threads(1)
    data = datasets.get("breast_cancer").load()
    runs = children(client, "e2e-ddp")
    assert len(runs) == 4
    stopped = [r for r in runs if r.data.tags["tunelab.outcome"] == "stopped_early"]
    # The hopeless one starts last, when two have ended: below all of them at epoch 1, it stops.
    assert 1.0e-6 in {float(r.data.params["lr"]) for r in stopped}
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        epochs = len(history)
        assert [m.step for m in history] == list(range(1, epochs + 1))  # the first worker's
        assert run.data.tags["tunelab.workers"] == "2"
        assert len(run.data.tags["tunelab.worker_nodes"].split(",")) == 2  # one node IP each
        folder = Path(report.results_dir) / run.info.run_name
        last = load_checkpoint(sorted(folder.glob("checkpoint_0*"))[-1])
        assert last["epoch"] == epochs and float(run.data.params["lr"]) == last["config"]["lr"]
        # The same trial trained alone, on the whole batches, ends where its workers ended.
        metrics, state = trained_alone(last["config"], data, architectures.get("mlp"), epochs)
        assert metrics["val_loss"] == pytest.approx(run.data.metrics["val_loss"], rel=1e-4)
        for key, tensor in state["model_state"].items():
            torch.testing.assert_close(last["model_state"][key], tensor, rtol=1e-4, atol=1e-5)
    with pytest.raises(TunelabError, match="trained on 2 data-parallel workers"):
        reproduce(runs[0].info.run_id, tracking_uri=store["tracking_uri"])


def test_a_killed_worker_restarts_the_trial_from_its_checkpoint(ray_session, store) -> None:
    epochs = 40
    loaded = parse_spec(
        SPEC.format(trials=1, epochs=epochs, scheduler="fifo"),
        "loss.yaml",
        {"--name": "e2e-ddp-loss"},
    )
    outcome: dict = {}
    sweep = threading.Thread(
        target=lambda: outcome.update(
            report=run_sweep(loaded, stores=Stores.resolve(**store), live=False)
        )
    )
    sweep.start()
    client = MlflowClient(store["tracking_uri"])
    deadline = time.monotonic() + 240
    trained = 0
    while trained < 3:  # the trial has recorded epochs, and so checkpointed them
        assert sweep.is_alive() and time.monotonic() < deadline, "the trial never trained"
        runs = children(client, "e2e-ddp-loss")
        if runs:
            trained = len(client.get_metric_history(runs[0].info.run_id, "val_accuracy"))
        time.sleep(0.2)
    workers = workers_running()
    assert len(workers) == 2, workers
    os.kill(int(workers[-1]), signal.SIGKILL)
    sweep.join(timeout=300)
    assert not sweep.is_alive()

    report = outcome["report"]
    assert report.counts["completed"] == 1, report.counts
    (run,) = children(client, "e2e-ddp-loss")
    assert run.data.tags["tunelab.retries"] == "1"
    assert run.data.tags["tunelab.retry_reason"].startswith("worker_crashed"), run.data.tags
    resumed = int(run.data.tags["tunelab.resumed_at_epoch"])
    assert trained <= resumed < epochs  # it went on from a checkpoint, not from the start
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
    assert steps == list(range(1, epochs + 1))  # every epoch once: none lost, none twice
