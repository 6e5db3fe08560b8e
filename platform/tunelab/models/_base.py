from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.data import INPUT_KINDS, TASKS

if TYPE_CHECKING:
    from torch import nn

    from tunelab.data import DataInfo

ALL_TASKS = frozenset(TASKS)


@dataclass(frozen=True)
class Range:
    """The values a numeric hyperparameter can take: above `low` (or from it, when `low_open`
    is false) and below `high` (or up to it)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "any number"


POSITIVE = Range(low=0, low_open=True)  # learning rates
COUNT = Range(low=1)  # widths, batch sizes
NON_NEGATIVE = Range(low=0)  # depths that may be 0, weight decay, clipping
PROBABILITY = Range(low=0, high=1)  # dropout rates, momentum
FRACTION = Range(low=0, high=1, high_open=True)  # Adam's betas

ALL_INPUTS = frozenset(INPUT_KINDS.values())


@dataclass(frozen=True)
class Architecture:
    """A named model family: its tunable hyperparameters (with defaults) and how to build it.

    `build(hparams, info)` receives this architecture's hyperparameters merged with the defaults
    (and with `options`, the fixed settings a spec gives under `model.options`), and what it
    needs to know of the data. It returns an `nn.Module` whose output is (batch, info.n_outputs).

    `trainer` names the training loop ("supervised" or "gan"). With `strict` false the
    architecture takes any hyperparameter the spec names (a plugin that declares none).
    """

    name: str
    description: str
    build: Callable[[Mapping[str, Any], DataInfo], nn.Module]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    tasks: frozenset[str] = ALL_TASKS
    inputs: frozenset[str] = ALL_INPUTS
    trainer: str = "supervised"
    options: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = True
    # Optimizer parameter groups (e.g. a learning rate per part); None: one group, the trainer's lr.
    param_groups: Callable[[nn.Module, Mapping[str, Any]], list[dict[str, Any]]] | None = None
    # The values each numeric hyperparameter can take; a spec sampling outside is refused.
    ranges: Mapping[str, Range] = field(default_factory=dict)


# Activation names every built-in architecture understands (torch-free, for spec checks).
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu")
FREEZE_STRATEGIES = ("none", "backbone", "partial")
INIT_CHOICES = ("pretrained", "scratch")


def as_architecture(name: str, obj: Any) -> Architecture:
    """A user's model as an Architecture: an Architecture as it is, or a builder function
    `build(hparams, info) -> nn.Module`. A builder may declare its tunable hyperparameters and
    their defaults in a `hyperparameters` dict attribute; one that does not takes any."""
    if isinstance(obj, Architecture):
        return obj
    if not callable(obj):
        raise TypeError(f"expected a builder function or an Architecture, got {type(obj).__name__}")
    declared = getattr(obj, "hyperparameters", None)
    doc = (obj.__doc__ or "").strip().splitlines()
    return Architecture(
        name=name,
        description=doc[0] if doc else f"built by {name}",
        build=obj,
        hyperparameters=dict(declared or {}),
        strict=declared is not None,
    )
