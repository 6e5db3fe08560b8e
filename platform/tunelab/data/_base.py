from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TASKS = ("classification", "regression")
# What the shape of one example says about it: (C, H, W) images, (T, F) sequences, (F,) tables.
INPUT_KINDS = {3: "image", 2: "sequence", 1: "tabular"}


def input_kind(shape: tuple[int, ...]) -> str:
    return INPUT_KINDS.get(len(shape), f"{len(shape)}-d")


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to be built (and rebuilt from a checkpoint)."""

    task: str  # "classification" or "regression"
    input_shape: tuple[int, ...]
    n_classes: int  # 0 for regression

    @property
    def n_outputs(self) -> int:
        """Width of the model's output: one logit per class, or one value for regression."""
        return self.n_classes if self.task == "classification" else 1

    @property
    def input_kind(self) -> str:
        return input_kind(self.input_shape)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataInfo:
        return cls(
            task=str(d["task"]),
            input_shape=tuple(int(n) for n in d["input_shape"]),
            n_classes=int(d["n_classes"]),
        )


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test splits of one task. Tuning never looks at `test`."""

    train: Split
    val: Split
    test: Split
    task: str
    n_classes: int  # 0 for regression
    input_shape: tuple[int, ...]
    feature_names: tuple[str, ...] = field(default=())
    class_names: tuple[str, ...] = field(default=())

    @property
    def info(self) -> DataInfo:
        return DataInfo(task=self.task, input_shape=self.input_shape, n_classes=self.n_classes)

    def digest(self) -> str:
        """SHA-256 over every split's examples and labels (their shapes and types too): the
        same data gives the same digest on any machine; a changed file, a different one."""
        import hashlib

        digest = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            for array in (split.x, split.y):
                contiguous = np.ascontiguousarray(array)
                digest.update(f"{contiguous.shape}{contiguous.dtype.str}".encode())
                digest.update(contiguous.tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Dataset:
    """A named, offline data source.

    `load(**options)` returns the same splits every time for the same options: the split is
    fixed, so every sweep (whatever its seed) is validated and tested on the same examples.
    `options` are the keyword arguments it accepts, with their defaults (None: not declared). `task` and
    `input_kind` are declared so a spec can be checked before anything is loaded; None means
    known only once loaded (files, plugins).
    """

    name: str
    description: str
    load: Callable[..., DataSplits]
    task: str | None = None
    input_kind: str | None = None
    options: Mapping[str, Any] | None = field(default_factory=dict)  # None: any (plugins)
