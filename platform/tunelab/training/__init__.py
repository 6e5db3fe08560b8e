"""Training loops, one readable function per family, and their checkpoints. Knows nothing of Ray."""

from __future__ import annotations

from tunelab.training._contract import OPTIMIZERS, TASK_METRICS, TRAINER_HYPERPARAMETERS

__all__ = ["OPTIMIZERS", "TASK_METRICS", "TRAINER_HYPERPARAMETERS"]
