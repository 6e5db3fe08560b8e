"""Population based training: a trial in the population's bottom goes on from a better trial's
checkpoint with explored hyperparameters, and its run records that faithfully: the lineage in
its tags, the hyperparameters it trained each epoch with as metrics, and weights that are the
other trial's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from tunelab.errors import TunelabError
from tunelab.promotion import reproduce
from tunelab.spec import parse_spec
from tunelab.sweeps import run_sweep

pytestmark = pytest.mark.e2e

# Learning rates far apart: the trials at 1e-5 stay at the bottom and exploit the others.
SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
seed: 3
budget: {trials: 4, max_epochs: 12, concurrency: 4}
resources: {cpu: 0.5}
searcher: random
scheduler: {type: pbt, interval: 2, quantile: 0.5, resample_probability: 0.0}
checkpoints: {keep: null}
system_metrics: {interval_s: 0}
space:
  lr: {type: categorical, choices: [0.00001, 0.00003, 0.03, 0.1]}  # seed 3: 3e-5 twice
  width: 16
  batch_size: 16
  dropout: 0.0
"""


def history(client: MlflowClient, run_id: str, metric: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, metric)]


def test_an_exploited_trial_goes_on_from_the_others_weights(ray_session, store) -> None:
    from tunelab.backend import checkpoint_dir_at
    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training import load_checkpoint, train

    report = run_sweep(parse_spec(SPEC, "pbt.yaml", {"--name": "e2e-pbt"}), **store)
    assert report.counts["completed"] == 4, report.counts
    client = MlflowClient(store["tracking_uri"])
    runs = {r.info.run_name: r for r in client.search_runs([report.experiment_id])}
    firsts = [
        (r, json.loads(r.data.tags["tunelab.exploit.1"]))
        for r in runs.values()
        if int(r.data.tags.get("tunelab.exploits", "0"))
    ]
    # One that goes on training: a source at its last epoch leaves nothing to train.
    going_on = [(r, e) for r, e in firsts if e["source_epoch"] < 12]
    assert going_on, f"no trial exploited another before its last epoch: {firsts}"
    run, first = going_on[0]
    source, epoch, source_epoch = first["source"], first["epoch"], first["source_epoch"]
    assert source in runs and source != run.info.run_name
    assert epoch % 2 == 0 and source_epoch % 2 == 0  # at the end of an interval

    # The weights it went on from are the source's checkpoint of that epoch, copied to its folder.
    folder = Path(report.results_dir)
    copied = folder / run.info.run_name / f"checkpoint_exploit_{epoch:06d}_{source}"
    theirs = checkpoint_dir_at(folder / source, source_epoch)
    assert theirs is not None
    copy, original = load_checkpoint(copied), load_checkpoint(theirs)
    assert copy["epoch"] == source_epoch
    for name, tensor in original["model_state"].items():
        assert torch.equal(copy["model_state"][name], tensor), name

    # The schedule recorded is what it trained with: its own lr up to the exploit, then the
    # explored one from the epoch after the source's (those epochs are recorded again).
    own_lr, new_lr = float(run.data.params["lr"]), float(first["config"]["lr"])
    lrs = history(client, run.info.run_id, "hp/lr")
    assert {s for s, v in lrs if v == pytest.approx(own_lr)} >= set(range(1, epoch + 1))
    assert source_epoch + 1 in {s for s, v in lrs if v == pytest.approx(new_lr)}
    assert new_lr == float(runs[source].data.params["lr"]) or 0.00001 <= new_lr <= 0.1

    # Its next checkpoint is one epoch of training from the copied weights with that config.
    config = {k: v for k, v in first["config"].items() if k != "tunelab_resume"}
    ours = checkpoint_dir_at(folder / run.info.run_name, source_epoch + 1)
    assert ours is not None and load_checkpoint(ours)["epoch"] == source_epoch + 1
    torch.set_num_threads(1)
    retrained: dict = {}
    train(
        config,
        datasets.get("wine").load(),
        architectures.get("mlp"),
        max_epochs=source_epoch + 1,
        report=lambda e, m, state: retrained.update(state),
        restore=copy,
    )
    for name, tensor in load_checkpoint(ours)["model_state"].items():
        assert torch.allclose(retrained["model_state"][name], tensor, rtol=1e-5, atol=1e-7), name

    # Its config from the start cannot reproduce it, and `reproduce` says so rather than fail.
    with pytest.raises(TunelabError, match="went on from other trials' checkpoints"):
        reproduce(run.info.run_id, tracking_uri=store["tracking_uri"])


PB2_SPEC = (
    SPEC.replace("type: pbt", "type: pb2")
    .replace("quantile: 0.5, resample_probability: 0.0", "quantile: 0.5")
    .replace(
        "lr: {type: categorical, choices: [0.00001, 0.00003, 0.03, 0.1]}  # seed 3: 3e-5 twice",
        "lr: {type: float, low: 0.00001, high: 0.1}",
    )
    .replace("max_epochs: 12", "max_epochs: 8")
)


def test_pb2_explores_within_the_range_it_was_given(ray_session, store) -> None:
    report = run_sweep(parse_spec(PB2_SPEC, "pb2.yaml", {"--name": "e2e-pb2"}), **store)
    assert report.counts["completed"] == 4, report.counts
    client = MlflowClient(store["tracking_uri"])
    trials = [r for r in client.search_runs([report.experiment_id]) if r.info.run_name != "e2e-pb2"]
    lrs = [v for r in trials for _, v in history(client, r.info.run_id, "hp/lr")]
    assert len(lrs) >= 4 * 8 and all(0.00001 <= lr <= 0.1 for lr in lrs)
    exploits = [
        json.loads(r.data.tags[f"tunelab.exploit.{n}"])
        for r in trials
        for n in range(1, int(r.data.tags.get("tunelab.exploits", "0")) + 1)
    ]
    assert exploits, "no trial exploited another"
    assert all(0.00001 <= e["config"]["lr"] <= 0.1 for e in exploits)
