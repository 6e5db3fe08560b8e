"""How a trial's end reads: its outcome, its run's status and tags, and which trial is best."""

from __future__ import annotations

import pytest

from tunelab.sweeps import (
    RUN_STATUS,
    Outcome,
    SweepState,
    TrialRecord,
    best_trial,
    end_tags,
    trial_outcome,
)


@pytest.mark.parametrize(
    ("errored", "finished", "last_epoch", "expected"),
    [
        (False, True, 5, Outcome.COMPLETED),
        (False, True, 2, Outcome.STOPPED_EARLY),
        (False, True, None, Outcome.STOPPED_EARLY),
        (True, False, 3, Outcome.FAILED),
        (True, True, 5, Outcome.FAILED),
        (False, False, 3, Outcome.KILLED),
    ],
)
def test_outcome_of_an_ended_trial(
    errored: bool, finished: bool, last_epoch: int | None, expected: Outcome
) -> None:
    assert (
        trial_outcome(errored=errored, finished=finished, last_epoch=last_epoch, max_epochs=5)
        is expected
    )


def test_run_status_is_faithful() -> None:
    assert RUN_STATUS[Outcome.COMPLETED] == "FINISHED"
    assert RUN_STATUS[Outcome.STOPPED_EARLY] == "FINISHED"
    assert RUN_STATUS[Outcome.FAILED] == "FAILED"
    assert RUN_STATUS[Outcome.KILLED] == "KILLED"


def test_end_tags_mark_early_stop_and_keep_the_errors_first_line() -> None:
    assert end_tags(Outcome.STOPPED_EARLY)["tunelab.stopped_early"] == "true"
    assert end_tags(Outcome.COMPLETED)["tunelab.stopped_early"] == "false"
    failed = end_tags(
        Outcome.FAILED, "\n  non_finite_metric: train_loss is nan at epoch 3\nTraceback ..."
    )
    assert failed["tunelab.error"] == "non_finite_metric: train_loss is nan at epoch 3"
    assert failed["tunelab.outcome"] == "failed"


def test_best_trial_ignores_failed_and_uncheckpointed_trials() -> None:
    state = SweepState()
    state.trials = {
        "a": TrialRecord("trial-000", {}, 2, 0.80, Outcome.COMPLETED, checkpoint="/c/a"),
        "b": TrialRecord("trial-001", {}, 1, 0.99, Outcome.FAILED, checkpoint="/c/b"),
        "c": TrialRecord("trial-002", {}, 1, 0.85, Outcome.STOPPED_EARLY, checkpoint="/c/c"),
        "d": TrialRecord("trial-003", {}, 2, 0.95, Outcome.COMPLETED, checkpoint=None),
        "e": TrialRecord("trial-004", {}, 2, float("nan"), Outcome.COMPLETED, checkpoint="/c/e"),
    }
    assert best_trial(state, "max") == "c"
    assert best_trial(state, "min") == "a"


def test_a_heartbeat_older_than_three_beats_means_the_driver_is_gone() -> None:
    from tunelab.sweeps import HEARTBEAT_S, is_stale

    assert is_stale(None) and is_stale("") and is_stale("not a time")
    assert not is_stale("1000", now=1000 + 2 * HEARTBEAT_S)
    assert is_stale("1000", now=1000 + 3 * HEARTBEAT_S + 1)


def test_a_heartbeat_is_judged_by_the_interval_its_sweep_recorded() -> None:
    from tunelab.sweeps import is_stale

    assert not is_stale("1000.5", "2", now=1006)
    assert is_stale("1000.5", "2", now=1007)  # three beats of 2 s missed
