"""Trainers: each kind of training loop is one record here, with everything the rest of tunelab
asks of it (its hyperparameters and their ranges, the metrics it reports, what population based
training may change, what its model takes in, how it is scored on the test split). A third kind
is one module that registers a `Trainer`; nothing elsewhere compares a trainer's name. Torch-free:
the loops and the test scoring are imported when used."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.models import COUNT, FRACTION, NON_NEGATIVE, POSITIVE, PROBABILITY, Range
from tunelab.registry import Registry

if TYPE_CHECKING:
    from tunelab.data import DataSplits

# `param_count` (trainable parameters) and `latency_ms` (median time to predict a fixed batch of
# 64 validation examples) make size and speed objectives of a multi-objective sweep.
COST_METRICS = ("param_count", "latency_ms")


@dataclass(frozen=True)
class Trainer:
    """A kind of training loop.

    `loop` and `test_scores` are "module:function" paths, imported when a trial trains or a
    model is scored: `loop(config, data, arch, *, max_epochs, report, restore, device, options,
    [workers])` trains; `test_scores(model, data)` scores a trained model on the test split, on
    the CPU, each metric named `test_...`."""

    name: str
    hyperparameters: Mapping[str, Any]  # what the loop itself consumes, with defaults
    ranges: Mapping[str, Range]  # the values each numeric one can take
    metrics: Mapping[str, tuple[str, ...]]  # reported every epoch, by task
    scheduled: tuple[str, ...]  # what population based training may change as a trial trains
    loop: str
    test_scores: str
    # Its model maps latent vectors to generated examples: its inputs are not examples of the
    # data (no input example, no shape check), and it answers examples, not predictions.
    generates: bool = False
    # Its validation metrics have a level a model that learned nothing scores (the plateau rule).
    untrained_level: bool = False
    data_parallel: bool = False  # trains as one of several data-parallel workers
    fusable: bool = False  # trains K trials at a time as one stacked model (training/_fused.py)
    # Needs the reference classifier of its data (what scores a generator), built before trials.
    needs_reference: bool = False

    def train(self, *args: Any, **kwargs: Any) -> None:
        _function(self.loop)(*args, **kwargs)

    def score_on_test(self, model: Any, data: DataSplits) -> dict[str, float]:
        return _function(self.test_scores)(model, data)  # type: ignore[no-any-return]


def _function(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


trainers: Registry[Trainer] = Registry("trainer")


def register_trainer(trainer: Trainer) -> Trainer:
    """Add a trainer by its name (a name taken already is refused)."""
    return trainers.register(trainer.name, trainer)


def trainer_of(name: str) -> Trainer:
    """The trainer of that name; NotFoundError naming the others for an unknown one."""
    return trainers.get(name)


def generates(name: Any) -> bool:
    """Whether a checkpoint's recorded trainer makes generators; False for none or an unknown
    one (a checkpoint read by a family that may not apply)."""
    return name in trainers and trainer_of(str(name)).generates


register_trainer(
    Trainer(
        name="supervised",
        hyperparameters={
            "optimizer": "adam",
            "lr": 1e-3,
            "momentum": 0.9,
            "weight_decay": 0.0,
            "batch_size": 64,
            "grad_clip": 0.0,  # max gradient norm; 0 turns clipping off
        },
        ranges={
            "lr": POSITIVE,
            "momentum": PROBABILITY,
            "weight_decay": NON_NEGATIVE,
            "batch_size": COUNT,
            "grad_clip": NON_NEGATIVE,
        },
        # Regression losses are mean squared errors.
        metrics={
            "classification": ("train_loss", "val_loss", "val_accuracy", *COST_METRICS),
            "regression": ("train_loss", "val_mse", "val_mae", *COST_METRICS),
        },
        scheduled=("lr", "weight_decay", "momentum", "grad_clip", "dropout", "lr_head", "lr_body"),
        loop="tunelab.training._supervised:train_supervised",
        test_scores="tunelab.training._supervised:test_scores",
        untrained_level=True,
        data_parallel=True,
        fusable=True,
    )
)

register_trainer(
    Trainer(
        name="gan",
        hyperparameters={
            "lr_g": 2e-3,
            "lr_d": 1e-3,
            "beta1": 0.5,
            "beta2": 0.999,
            "batch_size": 16,
        },
        ranges={
            "lr_g": POSITIVE,
            "lr_d": POSITIVE,
            "beta1": FRACTION,
            "beta2": FRACTION,
            "batch_size": COUNT,
        },
        # `frechet_distance` is measured in a fixed classifier's feature space.
        metrics={"classification": ("loss_d", "loss_g", "frechet_distance")},
        scheduled=("lr_g", "lr_d", "beta1", "beta2", "d_dropout"),
        loop="tunelab.training._gan:train_gan",
        test_scores="tunelab.training._gan:test_scores",
        generates=True,
        needs_reference=True,
    )
)
