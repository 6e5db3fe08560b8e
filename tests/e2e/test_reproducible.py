"""The same seed, the same sweep: a reproducible sweep (`searcher.reproducible`) of three trials
at once, run twice with each batch taking a random while (so trials end in a different order
each time), records the same configurations, the same trials stopped at the same epochs, the
same results and the same best."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient

import tunelab
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

SPEC = """
model: jittery
dataset: wine
metric: val_accuracy
mode: max
seed: 5
budget: {trials: 8, max_epochs: 4, concurrency: 3}
resources: {cpu: 0.5}
searcher: {sampler: tpe, startup_trials: 3, reproducible: true}
scheduler: SCHEDULER
system_metrics: {interval_s: 0}
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
  width: {type: int, low: 4, high: 32}
  batch_size: 16
"""


@pytest.fixture
def jittery() -> Iterator[None]:
    """A small MLP whose every training batch first waits a random 0-30 ms (not seeded: the
    time a trial takes, and so the order trials end in, differs from run to run)."""
    from tunelab.models import architectures

    def build(hparams: dict[str, Any], info: Any) -> Any:
        import time

        import torch
        from torch import nn

        jitter = random.SystemRandom()

        class Jittery(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                inputs = int(torch.tensor(info.input_shape).prod())
                self.layers = nn.Sequential(
                    nn.Linear(inputs, hparams["width"]),
                    nn.ReLU(),
                    nn.Linear(hparams["width"], info.n_outputs),
                )

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if self.training:
                    time.sleep(jitter.uniform(0, 0.03))
                return self.layers(x.flatten(1))

        return Jittery()

    tunelab.register_model("jittery", build)
    yield
    architectures.unregister("jittery")


def recorded(uri: str, experiment_id: str, sweep: str) -> dict[str, tuple[Any, ...]]:
    """Each trial's params, outcome, epochs and final val_accuracy, by trial name."""
    client = MlflowClient(uri)
    runs = client.search_runs(
        [experiment_id], f"tags.`tunelab.role` = 'trial' and tags.`tunelab.sweep` = '{sweep}'"
    )
    return {
        r.info.run_name: (
            {k: v for k, v in r.data.params.items() if k in ("lr", "width")},
            r.data.tags.get("tunelab.outcome"),
            len(client.get_metric_history(r.info.run_id, "val_accuracy")),
            r.data.metrics["val_accuracy"],
        )
        for r in runs
    }


# fifo: every trial to the end; asha: the same trials stopped at the same epochs too.
@pytest.mark.parametrize(
    "scheduler", ["fifo", "{type: asha, grace_period: 1, reduction_factor: 2, plateau: 0}"]
)
def test_a_seeded_sweep_run_twice_records_the_same_trials(
    scheduler: str, jittery: None, ray_session: int, store: dict[str, str]
) -> None:
    spec = SPEC.replace("SCHEDULER", scheduler)
    runs = []
    for name in ("again-1", "again-2"):
        report = run_sweep(
            parse_spec(spec, "jittery.yaml", {"--name": name}), stores=Stores.resolve(**store)
        )
        assert sum(report.counts.values()) == 8, report.counts
        runs.append((report, recorded(store["tracking_uri"], report.experiment_id, name)))
    (first, one), (second, two) = runs
    assert len(one) == 8 and one == two
    assert first.best is not None and second.best is not None
    assert (first.best["trial"], first.best["metric"]) == (
        second.best["trial"],
        second.best["metric"],
    )


def test_check_against_reruns_a_sweep_and_names_where_it_first_diverges(
    jittery: None, ray_session: int, store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`tunelab sweep --check-against`: the same code and data reproduce the sweep; a model
    changed since is found at the first trial it changes, and the command exits 1."""
    from tunelab.cli import main

    spec = (
        SPEC.replace("SCHEDULER", "{type: asha, grace_period: 1, reduction_factor: 2, plateau: 0}")
        .replace("metric: val_accuracy\nmode: max", "metric: val_loss\nmode: min")
        .replace("trials: 8, max_epochs: 4", "trials: 5, max_epochs: 2")
    )
    first = run_sweep(
        parse_spec(spec, "jittery.yaml", {"--name": "first"}), stores=Stores.resolve(**store)
    )
    check = tunelab.check_sweep("first", name="first-again", live=False, **store)
    assert check.result.sweep == "first-again" and check.trials == 5
    assert check.divergence is None and check.reproduced, check.describe()
    assert check.caveat is None
    assert check.result.best is not None and first.best is not None
    assert check.result.best["trial"] == first.best["trial"]

    from tunelab.models import architectures

    def wider(hparams: dict[str, Any], info: Any) -> Any:
        from torch import nn

        inputs = int(np.prod(info.input_shape))
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(inputs, 2 * hparams["width"]),
            nn.ReLU(),
            nn.Linear(2 * hparams["width"], info.n_outputs),
        )

    architectures.unregister("jittery")  # the same name, another model
    tunelab.register_model("jittery", wider)
    capsys.readouterr()
    where = ["--tracking-uri", store["tracking_uri"], "--results-dir", store["results_dir"]]
    status = main(
        ["sweep", "--check-against", "first", "--name", "first-changed", "--json", *where]
    )
    out, err = capsys.readouterr()
    assert status == 1, (out, err)
    assert "check against first: diverged at trial-000: " in err, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["sweep"] == "first-changed"
    assert last["check"]["reproduced"] is False
    assert last["check"]["divergence"]["trial"] == "trial-000"
