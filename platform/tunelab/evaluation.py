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

    model = model.cpu().eval()
    if trainer == "gan":
        return {"test_frechet_distance": _gan_distance(model, data)}
    from tunelab.training._supervised import evaluate

    x, y = torch.as_tensor(data.test.x), torch.as_tensor(data.test.y)
    return {
        "test_" + name.removeprefix("val_"): value
        for name, value in evaluate(model, x, y, data.task).items()
    }


def _gan_distance(gan: Any, data: DataSplits) -> float:
    import torch

    from tunelab.training._frechet import embed, feature_extractor, frechet_distance, statistics
    from tunelab.training._gan import SCORED_SAMPLES
    from tunelab.training._reference import reference_state

    features = feature_extractor(reference_state(data))
    z = torch.randn(
        SCORED_SAMPLES, gan.latent_size, generator=torch.Generator().manual_seed(GAN_TEST_SEED)
    )
    with torch.inference_mode():
        generated = gan(z)
    real = statistics(embed(features, torch.as_tensor(data.test.x)))
    return frechet_distance(statistics(embed(features, generated)), real)


def data_fingerprint(data: DataSplits, label: str) -> str:
    """SHA-256 (first 16 hex digits) of the dataset's name and its test split."""
    digest = hashlib.sha256(label.encode())
    digest.update(repr((data.test.x.shape, data.test.x.dtype.str)).encode())
    digest.update(data.test.x.tobytes())
    digest.update(data.test.y.tobytes())
    return digest.hexdigest()[:16]
