"""What each family is known for, reproduced at a size a test can afford."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tunelab.data import DataSplits, datasets
from tunelab.sweeps import train_briefly


def history(model: str, data: DataSplits, config: dict[str, Any], epochs: int) -> list[dict]:
    torch.set_num_threads(1)
    return [metrics for metrics, _ in train_briefly(model, data, config, epochs)]


def test_adding_problem_lstm_solves_it_where_a_vanilla_rnn_stays_at_the_baseline(
    trained_adding,
) -> None:
    data, lstm_epochs = trained_adding  # lr 1e-2, hidden 32, batch 32, grad_clip 1, 10 epochs
    baseline = float(((data.val.y - 1.0) ** 2).mean())  # always predicting 1
    assert baseline == pytest.approx(1 / 6, abs=0.02)
    config = {"lr": 1e-2, "hidden": 32, "batch_size": 32, "grad_clip": 1.0}
    lstm = [metrics for metrics, _ in lstm_epochs]
    rnn = history("rnn", data, config, 10)
    assert lstm[-1]["val_mse"] < 0.05 * baseline
    assert min(m["val_mse"] for m in rnn) > 0.8 * baseline


def test_gan_frechet_distance_falls_over_a_few_epochs() -> None:
    data = datasets.get("digits").load()
    config = {"lr_g": 2e-3, "lr_d": 1e-3, "batch_size": 16, "d_dropout": 0.5}
    seen = history("gan", data, config, 12)
    distances = [m["frechet_distance"] for m in seen]
    assert max(distances[-3:]) < 0.5 * distances[0], distances


def test_pretrained_source_beats_scratch_with_fifty_labels_per_class() -> None:
    data = datasets.get("digits_5_9").load(labels_per_class=50)
    # The transfer model's default source: tunelab's reference CNN for digits 0-4.
    config = {"freeze": "partial", "trainable_layers": 2, "lr_head": 1e-2, "lr_body": 1e-2}
    for seed in (0, 1):
        accuracy = {
            init: history("transfer", data, {**config, "seed": seed, "init": init}, 10)[-1][
                "val_accuracy"
            ]
            for init in ("pretrained", "scratch")
        }
        assert accuracy["pretrained"] > accuracy["scratch"], accuracy


def test_a_diverging_gan_fails_with_non_finite_metric() -> None:
    from tunelab.errors import NonFiniteMetricError

    data = datasets.get("digits").load()
    with pytest.raises(NonFiniteMetricError, match=r"^non_finite_metric: "):
        history("gan", data, {"lr_g": 1e12, "lr_d": 1e12, "beta1": 0.0}, 3)
