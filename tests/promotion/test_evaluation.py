"""Scores on the test split, the one tuning never sees, for each kind of model."""

from __future__ import annotations

import math

import pytest
import torch

from tunelab.data import datasets
from tunelab.errors import TunelabError
from tunelab.promotion import data_fingerprint, evaluate_on_test, metric_on_test_split
from tunelab.sweeps import train_briefly
from tunelab.training import build_from_state


def test_metric_on_test_split_names_the_test_split_counterpart() -> None:
    assert metric_on_test_split("val_accuracy") == "test_accuracy"
    assert metric_on_test_split("val_mse") == "test_mse"
    assert metric_on_test_split("frechet_distance") == "test_frechet_distance"
    with pytest.raises(TunelabError, match="latency_ms"):
        metric_on_test_split("latency_ms")


@pytest.mark.parametrize(
    ("model", "dataset", "expected"),
    [
        ("mlp", "wine", {"test_accuracy", "test_loss"}),
        ("lstm", "adding", {"test_mse", "test_mae"}),
        ("gan", "digits", {"test_frechet_distance"}),
    ],
)
def test_each_kind_of_model_is_scored_on_the_test_split(
    model: str, dataset: str, expected: set[str]
) -> None:
    torch.set_num_threads(1)
    options = {"length": 10, "size": 200} if dataset == "adding" else {}
    data = datasets.get(dataset).load(**options)
    loaded = build_from_state(train_briefly(model, data, {}, 1)[-1][1])
    scores = evaluate_on_test(loaded.model, loaded.trainer, data)
    assert set(scores) == expected and all(math.isfinite(v) for v in scores.values())
    assert scores == evaluate_on_test(loaded.model, loaded.trainer, data)  # deterministic


def test_fingerprint_names_the_test_split() -> None:
    digits, wine = datasets.get("digits").load(), datasets.get("wine").load()
    assert data_fingerprint(digits, "digits") == data_fingerprint(digits, "digits")
    assert data_fingerprint(digits, "digits") != data_fingerprint(wine, "wine")
    assert len(data_fingerprint(digits, "digits")) == 16
