"""What every trial accepts and reports. Torch-free, so specs validate without it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.training._trainers import trainer_of

if TYPE_CHECKING:
    from tunelab.data import DataSplits
    from tunelab.models import Architecture

OPTIMIZERS = ("sgd", "adam", "adamw")


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


def unfusable(arch: Architecture) -> str | None:
    """Why `arch` cannot be trained fused, in one line; None when it can."""
    if not trainer_of(arch.trainer).fusable:
        return f"model '{arch.name}' trains with the {arch.trainer} trainer, which cannot be fused"
    if arch.name not in FUSABLE_MODELS:
        return f"model '{arch.name}' cannot be fused; fusable: {', '.join(FUSABLE_MODELS)}"
    return None


def shared_part(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What the members of one fused group share: configs with equal parts train together."""
    return tuple(sorted((k, v) for k, v in config.items() if k not in MEMBER_HYPERPARAMETERS))


def reported_metrics(trainer: str, task: str) -> tuple[str, ...]:
    """The metrics a trial of that trainer reports every epoch on data of that task."""
    return trainer_of(trainer).metrics.get(task, ())


def split_hyperparameters(
    config: Mapping[str, Any], arch: Architecture, options: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer hyperparameters, model hyperparameters), each filled in with its defaults. The
    model's fixed options join its hyperparameters; a non-strict (plugin) architecture gets every
    key of the config the trainer does not take."""
    trainer_defaults = trainer_of(arch.trainer).hyperparameters
    trainer = {k: config.get(k, v) for k, v in trainer_defaults.items()}
    model = {k: config.get(k, v) for k, v in arch.hyperparameters.items()}
    if not arch.strict:
        model.update({k: v for k, v in config.items() if k not in trainer_defaults and k != "seed"})
    model.update({**arch.options, **(options or {})})
    return trainer, model
