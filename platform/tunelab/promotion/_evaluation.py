"""A trained model scored on the test split, the one split tuning never sees; and a fingerprint
of that split, so a recorded score names the data it was measured on."""

from __future__ import annotations

import hashlib
from typing import Any

from tunelab.data import DataSplits
from tunelab.errors import TunelabError

GAN_TEST_SEED = 0


def metric_on_test_split(metric: str) -> str:
    """The test-split counterpart of a sweep's metric: val_accuracy -> test_accuracy."""
    if metric.startswith("val_"):
        return "test_" + metric.removeprefix("val_")
    if metric == "frechet_distance":
        return "test_frechet_distance"
    raise TunelabError(f"metric {metric!r} has no test-split counterpart to compare models on")


def evaluate_on_test(model: Any, trainer: str, data: DataSplits) -> dict[str, float]:
    """test_loss and test_accuracy (classification), test_mse and test_mae (regression), or a
    GAN's test_frechet_distance, on the CPU."""
    import torch

    from tunelab.training import evaluate, generated_distance, reference_state

    model = model.cpu().eval()
    if trainer == "gan":
        test_x = torch.as_tensor(data.test.x)
        distance = generated_distance(model, reference_state(data), test_x, seed=GAN_TEST_SEED)
        return {"test_frechet_distance": distance}

    x, y = torch.as_tensor(data.test.x), torch.as_tensor(data.test.y)
    return {
        "test_" + name.removeprefix("val_"): value
        for name, value in evaluate(model, x, y, data.task).items()
    }


def data_fingerprint(data: DataSplits, label: str) -> str:
    """SHA-256 (first 16 hex digits) of the dataset's name and its test split."""
    digest = hashlib.sha256(label.encode())
    digest.update(repr((data.test.x.shape, data.test.x.dtype.str)).encode())
    digest.update(data.test.x.tobytes())
    digest.update(data.test.y.tobytes())
    return digest.hexdigest()[:16]
