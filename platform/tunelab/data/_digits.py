from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from tunelab.data._base import DataSplits, Split

# Fractions of the 1,797 images; the rest is the test split.
TRAIN_FRACTION = 0.6
VAL_FRACTION = 0.2


def digits_file() -> Path:
    """scikit-learn's bundled digits (64 pixel columns, then the label), found without importing
    scikit-learn, whose import costs more than reading the file."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("scikit-learn is not installed; the digits data ships with it")
    return Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"


def stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
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


def load_digits_splits(seed: int = 0) -> DataSplits:
    """The 8x8 digits as (N, 1, 8, 8) float32 in [0, 1], stratified 60/20/20 by a fixed seed."""
    with gzip.open(digits_file(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    x = (table[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    fractions = (TRAIN_FRACTION, VAL_FRACTION, 1.0 - TRAIN_FRACTION - VAL_FRACTION)
    train, val, test = stratified_split(y, fractions, seed)
    return DataSplits(
        train=Split(x[train], y[train]),
        val=Split(x[val], y[val]),
        test=Split(x[test], y[test]),
        task="classification",
        n_classes=10,
        input_shape=(1, 8, 8),
    )
