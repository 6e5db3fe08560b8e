"""Fixed splits, scaling, and the checks every loaded dataset passes before a trial sees it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunelab.data._base import TASKS, DataSplits, Split

# Every dataset is split with this seed: the test split never depends on a sweep's seed.
SPLIT_SEED = 0
FRACTIONS = (0.6, 0.2, 0.2)


def stratified_split(y: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Index arrays, one per fraction (the last takes the rest), each holding every class in
    proportion. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        bounds = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds), strict=True):
            part.append(chunk)
    return [rng.permutation(np.concatenate(part)) for part in parts]


def random_split(n: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
    return list(np.split(order, bounds))


def split_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: str | None = None,
    feature_names: Sequence[str] = (),
    class_names: Sequence[str] = (),
    standardize: bool = False,
) -> DataSplits:
    """Split (x, y) 60/20/20 with the fixed seed: stratified for classification, at random for
    regression. The task is read from y's dtype when not given (integers classify). With
    `standardize`, features are centred and scaled by the training split's statistics only."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    if y.dtype.kind in "OUSb":  # named labels (or booleans): classes in sorted order
        names, y = np.unique(y.astype(str), return_inverse=True)
        class_names = class_names or [str(n) for n in names]
        task = task or "classification"
    if task is None:
        task = "classification" if np.issubdtype(y.dtype, np.integer) else "regression"
    if task == "classification":
        y = y.astype(np.int64)
        train, val, test = stratified_split(y, FRACTIONS, SPLIT_SEED)
        n_classes = int(y.max()) + 1 if len(y) else 0
    else:
        y = y.astype(np.float32)
        train, val, test = random_split(len(y), FRACTIONS, SPLIT_SEED)
        n_classes = 0
    if standardize:
        wide = x.astype(np.float64)
        mean, scale = wide[train].mean(axis=0), wide[train].std(axis=0)
        x = ((wide - mean) / np.where(scale > 0, scale, 1.0)).astype(np.float32)
    return DataSplits(
        train=Split(x[train], y[train]),
        val=Split(x[val], y[val]),
        test=Split(x[test], y[test]),
        task=task,
        n_classes=n_classes,
        input_shape=tuple(x.shape[1:]),
        feature_names=tuple(feature_names),
        class_names=tuple(class_names),
    )


def check_splits(data: object) -> str | None:
    """Why `data` cannot be trained on, in a phrase, or None if it can. Run on the driver on
    whatever a loader returned, so a wrong shape fails the sweep before any trial starts."""
    if not isinstance(data, DataSplits):
        return f"must return DataSplits or (x, y) arrays, got {type(data).__name__}"
    if data.task not in TASKS:
        return f"task must be one of {', '.join(TASKS)}, got {data.task!r}"
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        x, y = np.asarray(split.x), np.asarray(split.y)
        if len(y) == 0 and name != "test":
            return f"the {name} split is empty"
        if x.shape[0] != y.shape[0]:
            return f"{name}: x has {x.shape[0]} rows but y has {y.shape[0]}"
        if tuple(x.shape[1:]) != tuple(data.input_shape):
            return (
                f"{name}: x is shaped {tuple(x.shape)}, expected (n, "
                f"{', '.join(map(str, data.input_shape))})"
            )
        if y.ndim != 1:
            return f"{name}: y must be one value per example, got shape {tuple(y.shape)}"
        if not np.issubdtype(x.dtype, np.floating):
            return f"{name}: x must be floating point, got {x.dtype}"
        if not np.isfinite(x).all():
            return f"{name}: x holds NaN or infinite values"
        if data.task == "classification":
            if not np.issubdtype(y.dtype, np.integer):
                return f"{name}: classification labels must be integers, got {y.dtype}"
            if len(y) and (y.min() < 0 or y.max() >= data.n_classes):
                return (
                    f"{name}: labels must lie in 0..{data.n_classes - 1}, "
                    f"got {int(y.min())}..{int(y.max())}"
                )
        elif not np.isfinite(y.astype(np.float64)).all():
            return f"{name}: targets hold NaN or infinite values"
    if data.task == "classification" and data.n_classes < 2:
        return f"classification needs at least 2 classes, got {data.n_classes}"
    return None
