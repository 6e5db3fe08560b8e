"""`tunelab sweep --check-against`: where a rerun first differs from the sweep it checks, and
when a sweep is not expected to reproduce at all."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tunelab.spec import parse_spec
from tunelab.sweeps import Divergence, EarlierTrial, Outcome, first_divergence
from tunelab.sweeps._check import caveat

SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {trials: 4, max_epochs: 3, concurrency: CONCURRENCY}
searcher: SEARCHER
scheduler: SCHEDULER
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
"""


def trial(n: int, **changes: object) -> EarlierTrial:
    base = EarlierTrial(
        run_id=f"run-{n}",
        name=f"trial-{n:03d}",
        config={"lr": 0.01 * (n + 1), "width": 8},
        last_epoch=3,
        last_value=0.5 + n / 10,
        last_values={},
        outcome=Outcome.COMPLETED,
        seconds=1.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


SWEEP = [trial(n) for n in range(4)]


def test_the_same_trials_and_best_do_not_diverge() -> None:
    again = [replace(t, run_id="other", seconds=9.0) for t in SWEEP]  # not compared
    assert first_divergence(again, SWEEP, "trial-003", "trial-003") is None


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (
            {"config": {"lr": 0.5, "width": 8}},
            Divergence("trial-002", "config", "lr=0.5", "lr=0.03"),
        ),
        (
            {"config": {"lr": 0.03}},
            Divergence("trial-002", "config", "width=(none)", "width=8"),
        ),
        (
            {"outcome": Outcome.STOPPED_EARLY, "last_epoch": 1},
            Divergence(
                "trial-002", "outcome", "stopped_early after epoch 1", "completed after epoch 3"
            ),
        ),
        (
            {"last_value": 1.0001},
            Divergence("trial-002", "value", "0.70007 at epoch 3", "0.7"),
        ),
        ({"last_value": 1 + 1e-9}, None),  # a value's round trip through the store
    ],
)
def test_the_first_trial_that_differs_is_named_with_what_differs(
    changed: dict[str, object], expected: Divergence | None
) -> None:
    # trial-002 and trial-003 both differ: the first in trial order is the one reported. (A
    # last_value given is a factor.)
    def changed_trial(t: EarlierTrial) -> EarlierTrial:
        if "last_value" in changed:
            return replace(t, last_value=(t.last_value or 0) * float(changed["last_value"]))  # type: ignore[arg-type]
        return replace(t, **changed)  # type: ignore[arg-type]

    again = [*SWEEP[:2], changed_trial(SWEEP[2]), changed_trial(SWEEP[3])]
    assert first_divergence(again, SWEEP, "trial-003", "trial-003") == expected


def test_a_different_number_of_trials_or_best_is_a_divergence() -> None:
    assert first_divergence(SWEEP[:3], SWEEP, "trial-002", "trial-003") == Divergence(
        "", "trials", "3", "4"
    )
    assert first_divergence(SWEEP, SWEEP, "trial-002", "trial-003") == Divergence(
        "", "best", "trial-002", "trial-003"
    )
    assert (
        Divergence("trial-002", "value", "0.7001 at epoch 3", "0.7").describe("first")
        == "trial-002: value 0.7001 at epoch 3 here, 0.7 in first"
    )


@pytest.mark.parametrize(
    ("concurrency", "searcher", "scheduler", "expected"),
    [
        (2, "tpe", "asha", "without searcher.reproducible"),
        (2, "{sampler: tpe, reproducible: true}", "asha", None),
        (1, "tpe", "asha", None),  # one trial at a time: nothing to race
        (2, "random", "fifo", None),  # proposals that see no result
        (2, "{sampler: random, reproducible: true}", "pbt", "population based"),
    ],
)
def test_a_sweep_not_expected_to_reproduce_says_why(
    concurrency: int, searcher: str, scheduler: str, expected: str | None
) -> None:
    text = (
        SPEC.replace("CONCURRENCY", str(concurrency))
        .replace("SEARCHER", searcher)
        .replace("SCHEDULER", scheduler)
    )
    found = caveat(parse_spec(text, "spec.yaml", {}))
    assert (found is None) if expected is None else (found is not None and expected in found)
