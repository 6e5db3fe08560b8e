from __future__ import annotations

import pytest

from tunelab.tracking import (
    RUN_STATUS,
    Outcome,
    end_tags,
    metrics_of,
    params_of,
    trial_outcome,
    trial_tags,
)
from tunelab.tune import SweepState, TrialRecord, best_trial


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


def test_child_tags_nest_under_the_parent() -> None:
    tags = trial_tags(sweep="s", parent_run_id="p1", trial_id="t1", model="cnn", dataset="digits")
    assert tags["mlflow.parentRunId"] == "p1"
    assert tags["tunelab.trial_id"] == "t1"
    assert tags["tunelab.sweep"] == "s"


def test_params_are_strings_and_metrics_only_the_named_numbers() -> None:
    assert params_of({"lr": 0.1, "optimizer": "sgd", "depth": 2, "flag": True}) == {
        "lr": "0.1",
        "optimizer": "sgd",
        "depth": "2",
        "flag": "true",
    }
    result = {"val_accuracy": 0.9, "val_loss": 1, "done": False, "config": {}, "train_loss": "x"}
    assert metrics_of(result, ("val_accuracy", "val_loss", "train_loss")) == {
        "val_accuracy": 0.9,
        "val_loss": 1.0,
    }


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


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "tunelab.errors.NonFiniteMetricError: non_finite_metric: val_loss is nan at epoch 2",
            "non_finite_metric: val_loss is nan at epoch 2",
        ),
        ("torch.OutOfMemoryError: CUDA out of memory", "OutOfMemoryError: CUDA out of memory"),
        ("KeyError: 'x'", "KeyError: 'x'"),
        ("something went wrong: badly", "something went wrong: badly"),
    ],
)
def test_error_lines_read_without_module_paths(line: str, expected: str) -> None:
    from tunelab.tune import clean_error_line

    assert clean_error_line(line) == expected
