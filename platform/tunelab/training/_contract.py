"""What every trial accepts and reports. Torch-free, so specs validate without it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.models import COUNT, FRACTION, NON_NEGATIVE, POSITIVE, PROBABILITY, Range

if TYPE_CHECKING:
    from tunelab.data import DataSplits
    from tunelab.models import Architecture

# Hyperparameters each training loop itself consumes, with their defaults.
TRAINER_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "supervised": {
        "optimizer": "adam",
        "lr": 1e-3,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "batch_size": 64,
        "grad_clip": 0.0,  # max gradient norm; 0 turns clipping off
    },
    "gan": {"lr_g": 2e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 16},
}
OPTIMIZERS = ("sgd", "adam", "adamw")
# The values each numeric trainer hyperparameter can take.
TRAINER_RANGES: dict[str, dict[str, Range]] = {
    "supervised": {
        "lr": POSITIVE,
        "momentum": PROBABILITY,
        "weight_decay": NON_NEGATIVE,
        "batch_size": COUNT,
        "grad_clip": NON_NEGATIVE,
    },
    "gan": {
        "lr_g": POSITIVE,
        "lr_d": POSITIVE,
        "beta1": FRACTION,
        "beta2": FRACTION,
        "batch_size": COUNT,
    },
}

# Metrics a trial reports every epoch, by (training loop, task). Regression losses are mean
# squared errors; `frechet_distance` is measured in a fixed classifier's feature space.
# `param_count` (trainable parameters) and `latency_ms` (median time to predict a fixed batch of
# 64 validation examples) make size and speed objectives of a multi-objective sweep.
COST_METRICS = ("param_count", "latency_ms")
REPORTED_METRICS: dict[tuple[str, str], tuple[str, ...]] = {
    ("supervised", "classification"): ("train_loss", "val_loss", "val_accuracy", *COST_METRICS),
    ("supervised", "regression"): ("train_loss", "val_mse", "val_mae", *COST_METRICS),
    ("gan", "classification"): ("loss_d", "loss_g", "frechet_distance"),
}


def untrained_metrics(data: DataSplits) -> dict[str, tuple[float, float]]:
    """For each validation metric a supervised trial reports: (what a model that learned nothing
    scores, what a perfect one scores). Learning nothing is predicting, for every example, what
    the training split says without looking at the input: its mean (regression), its class
    frequencies (classification). A trial whose metric is still at that level has not left the
    plateau every trial starts on, however it ranks among others still there."""
    y_train, y_val = np.asarray(data.train.y), np.asarray(data.val.y)
    if data.task == "regression":
        error = y_val.astype(np.float64).reshape(-1) - float(y_train.mean())
        return {
            "val_mse": (float(np.mean(error**2)), 0.0),
            "val_mae": (float(np.mean(np.abs(error))), 0.0),
        }
    counts = np.bincount(y_train.astype(np.int64), minlength=max(data.n_classes, 1))
    frequency = np.clip(counts / counts.sum(), 1e-12, None)
    labels = y_val.astype(np.int64)
    return {
        "val_loss": (float(-np.mean(np.log(frequency[labels]))), 0.0),
        "val_accuracy": (float(np.mean(labels == int(np.argmax(counts)))), 1.0),
    }


# Fused training (see _fused.py): the families trained K trials at a time as one model, and the
# hyperparameters each member of a fused group has of its own. Every other one fixes the layers'
# shapes, the batch shape or the optimizer's algorithm, and the group shares it.
FUSABLE_MODELS = ("mlp", "cnn", "rnn", "lstm", "gru")
MEMBER_HYPERPARAMETERS = ("lr", "weight_decay", "momentum", "grad_clip", "dropout", "seed")

# Population based training changes these as a trial trains, by training loop: none fixes a
# weight's shape, so a trial goes on from another's checkpoint with new values of them.
SCHEDULED_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "supervised": ("lr", "weight_decay", "momentum", "grad_clip", "dropout", "lr_head", "lr_body"),
    "gan": ("lr_g", "lr_d", "beta1", "beta2", "d_dropout"),
}


def unfusable(arch: Architecture) -> str | None:
    """Why `arch` cannot be trained fused, in one line; None when it can."""
    if arch.trainer != "supervised":
        return f"model '{arch.name}' trains with the {arch.trainer} trainer, which cannot be fused"
    if arch.name not in FUSABLE_MODELS:
        return f"model '{arch.name}' cannot be fused; fusable: {', '.join(FUSABLE_MODELS)}"
    return None


def shared_part(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What the members of one fused group share: configs with equal parts train together."""
    return tuple(sorted((k, v) for k, v in config.items() if k not in MEMBER_HYPERPARAMETERS))


def reported_metrics(trainer: str, task: str) -> tuple[str, ...]:
    return REPORTED_METRICS.get((trainer, task), ())


def split_hyperparameters(
    config: Mapping[str, Any], arch: Architecture, options: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer hyperparameters, model hyperparameters), each filled in with its defaults. The
    model's fixed options join its hyperparameters; a non-strict (plugin) architecture gets every
    key of the config the trainer does not take."""
    trainer_defaults = TRAINER_HYPERPARAMETERS[arch.trainer]
    trainer = {k: config.get(k, v) for k, v in trainer_defaults.items()}
    model = {k: config.get(k, v) for k, v in arch.hyperparameters.items()}
    if not arch.strict:
        model.update({k: v for k, v in config.items() if k not in trainer_defaults and k != "seed"})
    model.update({**arch.options, **(options or {})})
    return trainer, model
