from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to be built (and rebuilt from a checkpoint)."""

    task: str  # "classification"
    input_shape: tuple[int, ...]
    n_classes: int


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test splits of one task. Tuning never looks at `test`."""

    train: Split
    val: Split
    test: Split
    task: str  # "classification"
    n_classes: int
    input_shape: tuple[int, ...]
    feature_names: tuple[str, ...] = field(default=())

    @property
    def info(self) -> DataInfo:
        return DataInfo(task=self.task, input_shape=self.input_shape, n_classes=self.n_classes)


@dataclass(frozen=True)
class Dataset:
    """A named, offline data source. `load(seed)` must be deterministic for a given seed."""

    name: str
    description: str
    task: str
    load: Callable[[int], DataSplits]
