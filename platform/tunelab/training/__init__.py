"""Training: one readable loop per trainer (supervised, GAN), atomic self-describing checkpoints,
a trained model loaded back from one, and the reference classifiers. Knows nothing of Ray or
MLflow.

Importing this package does not import torch: the contract (hyperparameters, metrics), the
checkpoint and loading functions import it when called. The names that are torch objects
themselves (`Device`, `evaluate`, ...) are loaded on first access."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab import lazy
from tunelab.training._checkpoint import (
    CHECKPOINT_FILE,
    checkpoint_bytes,
    load_checkpoint,
    save_checkpoint,
)
from tunelab.training._contract import (
    FUSABLE_MODELS,
    MEMBER_HYPERPARAMETERS,
    OPTIMIZERS,
    reported_metrics,
    shared_part,
    split_hyperparameters,
    unfusable,
    untrained_metrics,
)
from tunelab.training._loading import LoadedModel, build_from_state, load_model, predict
from tunelab.training._loops import train
from tunelab.training._reference import build_reference, reference_state
from tunelab.training._setup import TrialSetup
from tunelab.training._trainers import (
    COST_METRICS,
    Trainer,
    generates,
    register_trainer,
    trainer_of,
    trainers,
)

if TYPE_CHECKING:
    from tunelab.training._common import CPU, Device, Workers
    from tunelab.training._fused import train_fused
    from tunelab.training._gan import generated_distance
    from tunelab.training._probe import fusion_throughput
    from tunelab.training._supervised import evaluate

# Imported, with torch, on first access.
__getattr__ = lazy.attributes(
    __name__,
    {
        "CPU": "_common",
        "Device": "_common",
        "evaluate": "_supervised",
        "fusion_throughput": "_probe",
        "generated_distance": "_gan",
        "train_fused": "_fused",
        "Workers": "_common",
    },
)


__all__ = [
    "CHECKPOINT_FILE",
    "COST_METRICS",
    "CPU",
    "FUSABLE_MODELS",
    "MEMBER_HYPERPARAMETERS",
    "OPTIMIZERS",
    "Device",
    "LoadedModel",
    "Trainer",
    "TrialSetup",
    "Workers",
    "build_from_state",
    "build_reference",
    "checkpoint_bytes",
    "evaluate",
    "fusion_throughput",
    "generated_distance",
    "generates",
    "load_checkpoint",
    "load_model",
    "predict",
    "reference_state",
    "register_trainer",
    "reported_metrics",
    "save_checkpoint",
    "shared_part",
    "split_hyperparameters",
    "train",
    "train_fused",
    "trainer_of",
    "trainers",
    "unfusable",
    "untrained_metrics",
]
