from __future__ import annotations

from tunelab.tracking import metrics_of, params_of, trial_tags


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
