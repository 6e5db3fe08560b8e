"""What every supervised trial accepts and reports. Torch-free, so specs validate without it."""

from __future__ import annotations

from typing import Any

# Hyperparameters the training loop itself consumes, with their defaults.
TRAINER_HYPERPARAMETERS: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "batch_size": 64,
}
OPTIMIZERS = ("sgd", "adam", "adamw")

# Metrics a trial reports every epoch, by task.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("train_loss", "val_loss", "val_accuracy"),
}
