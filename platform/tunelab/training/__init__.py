"""Training loops, one readable function per family, and their checkpoints. Knows nothing of Ray."""

from __future__ import annotations

from tunelab.training._contract import (
    OPTIMIZERS,
    TRAINER_HYPERPARAMETERS,
    reported_metrics,
)

__all__ = ["OPTIMIZERS", "TRAINER_HYPERPARAMETERS", "reported_metrics"]
