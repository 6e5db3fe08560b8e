from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from tunelab.data import DataSplits


@dataclass(frozen=True)
class Architecture:
    """A named model family: its tunable hyperparameters (with defaults) and how to build it.

    `build(hparams, data)` receives only this architecture's hyperparameters, already merged with
    the defaults, and the data it will train on (for input shape and number of classes).
    """

    name: str
    description: str
    tasks: frozenset[str]
    hyperparameters: Mapping[str, Any]
    build: Callable[[Mapping[str, Any], DataSplits], nn.Module]

# Activation names every built-in architecture understands (torch-free, for spec checks).
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid")
