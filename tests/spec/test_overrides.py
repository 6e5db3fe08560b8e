"""Flags override the spec's keys; a smoke run's `--max-epochs` below the grace period shrinks
the grace period and says so, where the same in the spec itself is refused."""

from __future__ import annotations

import pytest

from tunelab.errors import SpecError
from tunelab.spec import parse_spec

SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 4, max_epochs: 6}
scheduler: {type: asha, grace_period: 3}
space:
  lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
"""


def test_max_epochs_below_the_grace_period_clamps_it_with_a_note() -> None:
    loaded = parse_spec(SPEC, "s.yaml", {"--max-epochs": 1})
    assert loaded.spec.budget.max_epochs == 1
    assert loaded.spec.scheduler.grace_period == 1
    assert loaded.notes == (
        "--max-epochs 1 is below scheduler.grace_period (3): the grace period is 1 for this sweep",
    )


def test_no_note_when_the_grace_period_fits() -> None:
    loaded = parse_spec(SPEC, "s.yaml", {"--max-epochs": 3})
    assert loaded.spec.scheduler.grace_period == 3 and loaded.notes == ()


def test_the_same_in_the_spec_itself_is_refused() -> None:
    from tunelab.spec import check_spec

    with pytest.raises(SpecError, match=r"scheduler\.grace_period: must be <= budget\.max_epochs"):
        check_spec(parse_spec(SPEC.replace("max_epochs: 6", "max_epochs: 2"), "s.yaml"))


@pytest.mark.parametrize(("seed", "message"), [(-1, "must be >= 0, got -1"),
                                               (2**32, "must be < 4294967296, got 4294967296")])  # fmt: skip
def test_a_seed_flag_out_of_range_names_the_flag(seed: int, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC, "s.yaml", {"--seed": seed})
    assert str(caught.value) == f"--seed: {message}"
