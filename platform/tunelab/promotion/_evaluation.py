"""A trained model scored on the test split, the one split tuning never sees; and a fingerprint
of that split, so a recorded score names the data it was measured on."""

from __future__ import annotations

import hashlib
from typing import Any

from tunelab.data import DataSplits
from tunelab.errors import TunelabError


def metric_on_test_split(metric: str) -> str:
    """The test-split counterpart of a sweep's metric: val_accuracy -> test_accuracy."""
    if metric.startswith("val_"):
        return "test_" + metric.removeprefix("val_")
    if metric == "frechet_distance":
        return "test_frechet_distance"
    raise TunelabError(f"metric {metric!r} has no test-split counterpart to compare models on")


def evaluate_on_test(model: Any, trainer: str, data: DataSplits) -> dict[str, float]:
    """The trainer's test-split scores of the model (`Trainer.score_on_test`), on the CPU:
    test_loss and test_accuracy (classification), test_mse and test_mae (regression), or a
    GAN's test_frechet_distance."""
    from tunelab.training import trainer_of

    return trainer_of(trainer).score_on_test(model, data)


def data_fingerprint(data: DataSplits, label: str) -> str:
    """SHA-256 (first 16 hex digits) of the dataset's name and its test split."""
    digest = hashlib.sha256(label.encode())
    digest.update(repr((data.test.x.shape, data.test.x.dtype.str)).encode())
    digest.update(data.test.x.tobytes())
    digest.update(data.test.y.tobytes())
    return digest.hexdigest()[:16]
