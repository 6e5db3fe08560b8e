"""A trial that stops reporting (a hung data loader, a deadlock) neither holds the sweep nor
its budget: `budget.trial_timeout_s` fails it with `timeout` and the sweep goes on, and
`budget.max_wall_s` ends the sweep on time even when no trial reports at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

import tunelab
from tunelab.search import optuna_journal, trial_states
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

HANG_S = 120  # "forever", as far as the sweep can tell; a stray thread still ends one day


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Models a test registers, forgotten after it: later tests see the built-in ones only."""
    from tunelab.models import architectures

    names: list[str] = []
    yield names
    for name in names:
        architectures.unregister(name)


def hanging_model(name: str, marker: Path, registered: list[str], *, every_trial: bool) -> None:
    """Register `name`: an MLP whose training hangs in its second epoch, in the first trial
    to build one (or in every trial). Each trial's build writes its process id to `marker`.pids
    (the driver builds one too, to describe the model: that one never hangs)."""
    driver = os.getpid()

    def build(hparams: dict[str, Any], info: Any) -> Any:
        import time

        import torch
        from torch import nn

        first = False
        if os.getpid() != driver:
            first = not marker.exists()
            marker.touch()
            with open(f"{marker}.pids", "a") as pids:
                pids.write(f"{os.getpid()}\n")

        class Hangs(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.layer = nn.Linear(int(torch.tensor(info.input_shape).prod()), info.n_outputs)
                self.hang = os.getpid() != driver and (first or every_trial)
                self.validated = False  # once: the first epoch is over

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                self.validated |= not self.training
                if self.hang and self.validated and self.training:
                    time.sleep(HANG_S)
                return self.layer(x.flatten(1))

        return Hangs()

    tunelab.register_model(name, build)
    registered.append(name)


SPEC = """
model: {model}
dataset: wine
metric: val_accuracy
mode: max
budget: {{trials: 2, max_epochs: 3, concurrency: 1, {cap}}}
searcher: random
scheduler: fifo
space:
  lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
  batch_size: 32
"""


def trial_runs(uri: str, sweep: str) -> tuple[MlflowClient, dict[str, Any]]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tunelab")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.`tunelab.sweep` = '{sweep}' and tags.`tunelab.role` = 'trial'",
    )
    return client, {run.info.run_name: run for run in runs}


def epochs_of(client: MlflowClient, run: Any) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy"))


def test_a_trial_that_stops_reporting_fails_with_timeout_and_the_sweep_goes_on(
    ray_session: int, store: dict[str, str], tmp_path: Path, registered: list[str]
) -> None:
    marker = tmp_path / "hung"
    hanging_model("hangs-once", marker, registered, every_trial=False)
    spec = SPEC.format(model="hangs-once", cap="trial_timeout_s: 8")
    report = run_sweep(
        parse_spec(spec, "hang.yaml", {"--name": "e2e-timeout"}),
        stores=Stores.resolve(**store),
        live=False,
    )

    assert report.counts["failed"] == 1 and report.counts["completed"] == 1
    client, runs = trial_runs(store["tracking_uri"], "e2e-timeout")
    hung, healthy = runs["trial-000"], runs["trial-001"]
    assert hung.info.status == "FAILED" and hung.data.tags["tunelab.outcome"] == "failed"
    assert hung.data.tags["tunelab.error"] == (
        "timeout: no epoch reported in 8 s (budget.trial_timeout_s)"
    )
    assert epochs_of(client, hung) == [1]  # what it trained before it hung stays recorded
    assert healthy.info.status == "FINISHED" and epochs_of(client, healthy) == [1, 2, 3]
    # The worker whose thread still hangs took no other trial: a fresh process trained it.
    first, second = Path(f"{marker}.pids").read_text().split()
    assert first != second
    assert report.best is not None and report.best["run_id"] == healthy.info.run_id


def test_the_wall_time_cap_holds_when_no_trial_reports(
    ray_session: int, store: dict[str, str], tmp_path: Path, registered: list[str]
) -> None:
    hanging_model("hangs-always", tmp_path / "hung", registered, every_trial=True)
    spec = SPEC.format(model="hangs-always", cap="max_wall_s: 10")
    loaded = parse_spec(spec, "wall.yaml", {"--name": "e2e-wall-hang"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)

    # Its only trial hung in epoch 2, past the cap: stopped where it was, none started after.
    assert report.budget_reached == "budget.max_wall_s (10 s)"
    assert report.counts["stopped_by_budget"] == 1 and sum(report.counts.values()) == 1
    assert report.wall_s < HANG_S / 2, report.wall_s
    client, runs = trial_runs(store["tracking_uri"], "e2e-wall-hang")
    (run,) = runs.values()
    assert run.info.status == "FINISHED" and run.data.tags["tunelab.outcome"] == "stopped_by_budget"
    assert epochs_of(client, run) == [1]
    # Its epoch-1 checkpoint is its model, and Optuna was told it was stopped early.
    assert report.best is not None and report.best["run_id"] == run.info.run_id
    assert "model/MLmodel" in {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    journal = optuna_journal(Path(report.results_dir) / "optuna.journal")
    assert trial_states("e2e-wall-hang", journal) == {0: "PRUNED"}
