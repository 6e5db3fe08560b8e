from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from tunelab.data import DataInfo


@dataclass(frozen=True)
class Architecture:
    """A named model family: its tunable hyperparameters (with defaults) and how to build it.

    `build(hparams, info)` receives only this architecture's hyperparameters, already merged with
    the defaults, and what it needs to know of the data (input shape, number of classes).
    """

    name: str
    description: str
    tasks: frozenset[str]
    hyperparameters: Mapping[str, Any]
    build: Callable[[Mapping[str, Any], DataInfo], nn.Module]


# Activation names every built-in architecture understands (torch-free, for spec checks).
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid")
