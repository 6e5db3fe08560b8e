"""A trial keeps its best checkpoints by the metric and its latest, not one per epoch: disk does
not grow with `max_epochs`."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {{trials: 1, max_epochs: 8}}
scheduler: fifo
checkpoints: {{keep: {keep}}}
space:
  lr: 0.003
  batch_size: 16
"""


def kept_epochs(results_dir: str, trial: str) -> list[int]:
    folders = (Path(results_dir) / trial).glob("checkpoint_*/checkpoint.pt")
    return sorted(int(f.parent.name.removeprefix("checkpoint_")) + 1 for f in folders)


def test_a_trial_keeps_its_best_checkpoint_and_its_latest(ray_session, store) -> None:
    report = run_sweep(
        parse_spec(SPEC.format(keep=1), "k.yaml", {"--name": "e2e-keep"}),
        stores=Stores.resolve(**store),
    )
    client = MlflowClient(store["tracking_uri"])
    history = client.get_metric_history(report.best["run_id"], "val_accuracy")
    by_epoch = {m.step: m.value for m in history}
    assert sorted(by_epoch) == list(range(1, 9))

    kept = kept_epochs(report.results_dir, "trial-000")
    assert 8 in kept and 1 <= len(kept) <= 2, kept  # the latest, and the best if it is another
    best = max(by_epoch.values())
    assert any(by_epoch[epoch] == best for epoch in kept), (kept, by_epoch)
    # The model logged is the last epoch's, from the checkpoint kept for it.
    assert "model/MLmodel" in {
        a.path for a in client.list_artifacts(report.best["run_id"], "model")
    }


def test_keep_null_keeps_every_epoch(ray_session, store) -> None:
    loaded = parse_spec(SPEC.format(keep="null"), "k.yaml", {"--name": "e2e-keep-all"})
    report = run_sweep(loaded, stores=Stores.resolve(**store))
    assert kept_epochs(report.results_dir, "trial-000") == list(range(1, 9))
