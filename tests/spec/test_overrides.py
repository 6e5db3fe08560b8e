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


def test_the_recorded_spec_is_the_sweep_as_run_with_where_each_value_came_from() -> None:
    flags = {"--trials": 2, "--max-epochs": 2, "--concurrency": 1, "--seed": 7,
             "--max-retries": 3, "--name": "smoke"}  # fmt: skip
    loaded = parse_spec(SPEC, "s.yaml", flags)
    recorded = loaded.recorded_text
    again = parse_spec(recorded, "spec.yaml")  # read back with no flags: the same sweep
    assert again.spec == loaded.spec
    assert (again.spec.budget.trials, again.spec.budget.max_epochs) == (2, 2)
    assert again.spec.budget.concurrency == 1 and again.spec.seed == 7
    assert again.spec.failure.max_retries == 3 and again.spec.name == "smoke"
    assert again.spec.scheduler.grace_period == 2  # the clamp the flag caused, too
    header = [line for line in recorded.splitlines() if line.startswith("#")]
    assert header[0] == "# The sweep as run: s.yaml with these values changed"
    assert "#   budget.trials: 2 (from --trials; the spec has 4)" in header
    assert "#   seed: 7 (from --seed; not in the spec)" in header
    assert "#   scheduler.grace_period: 2 (from --max-epochs; the spec has 3)" in header


def test_a_spec_no_flag_changed_is_recorded_as_written() -> None:
    assert parse_spec(SPEC, "s.yaml").recorded_text == SPEC
    assert parse_spec(SPEC, "s.yaml", {"--trials": 4}).recorded_text == SPEC  # its own value


def test_a_shorthand_scheduler_takes_a_changed_grace_period() -> None:
    spec = SPEC.replace("scheduler: {type: asha, grace_period: 3}", "scheduler: asha")
    recorded = parse_spec(spec, "s.yaml", {"--max-epochs": 2}).recorded_text
    assert parse_spec(recorded, "spec.yaml").spec.budget.max_epochs == 2
