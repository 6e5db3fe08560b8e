"""The built-in datasets. All ship offline: scikit-learn's bundled files, or generated."""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from tunelab.data._base import DataSplits, Split
from tunelab.data._split import FRACTIONS, SPLIT_SEED, split_arrays, stratified_split


def sklearn_data_file(name: str) -> Path:
    """A file bundled with scikit-learn, found without importing it (the import costs more
    than reading the file)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("scikit-learn is not installed; the bundled data ships with it")
    return Path(spec.origin).parent / "datasets" / "data" / name


@functools.cache
def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(sklearn_data_file("digits.csv.gz"), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    x = (table[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    return x, table[:, 64].astype(np.int64)


def load_digits() -> DataSplits:
    """The 8x8 digits as (N, 1, 8, 8) float32 in [0, 1], stratified 60/20/20."""
    x, y = _digits_table()
    return split_arrays(x, y, task="classification", class_names=[str(d) for d in range(10)])


def load_digits_rows() -> DataSplits:
    """The same digits and splits, each image read row by row: 8 steps of 8 pixels."""
    images = load_digits()

    def rows(split: Split) -> Split:
        return Split(split.x.reshape(-1, 8, 8), split.y)

    return DataSplits(
        train=rows(images.train),
        val=rows(images.val),
        test=rows(images.test),
        task="classification",
        n_classes=10,
        input_shape=(8, 8),
        class_names=images.class_names,
    )


def load_digits_0_4() -> DataSplits:
    """Digits 0-4 only: the source task of the transfer-learning specs."""
    x, y = _digits_table()
    keep = y < 5
    return split_arrays(
        x[keep], y[keep], task="classification", class_names=[str(d) for d in range(5)]
    )


def load_digits_5_9(labels_per_class: int = 50) -> DataSplits:
    """Digits 5-9 (labelled 0-4) with scarce labels: `labels_per_class` training examples per
    class, drawn from the usual training share; validation and test splits are the usual 20%."""
    x, y = _digits_table()
    keep = y >= 5
    x, y = x[keep], y[keep] - 5
    train, val, test = stratified_split(y, FRACTIONS, SPLIT_SEED)
    picked = np.concatenate([train[y[train] == label][:labels_per_class] for label in range(5)])
    picked = np.random.default_rng(SPLIT_SEED).permutation(picked)
    return DataSplits(
        train=Split(x[picked], y[picked]),
        val=Split(x[val], y[val]),
        test=Split(x[test], y[test]),
        task="classification",
        n_classes=5,
        input_shape=(1, 8, 8),
        class_names=tuple(str(d) for d in range(5, 10)),
    )


def _sklearn_tabular(loader_name: str) -> DataSplits:
    from sklearn import datasets as sk  # its loaders know the feature names

    bunch = getattr(sk, loader_name)()
    return split_arrays(
        bunch.data,
        bunch.target,
        task="classification",
        feature_names=list(bunch.feature_names),
        class_names=[str(c) for c in bunch.target_names],
        standardize=True,
    )


def load_breast_cancer() -> DataSplits:
    """569 tumours, 30 named features, malignant or benign; standardised on the training split."""
    return _sklearn_tabular("load_breast_cancer")


def load_wine() -> DataSplits:
    """178 wines, 13 named chemical features, 3 cultivars; standardised on the training split."""
    return _sklearn_tabular("load_wine")


def load_adding(length: int = 50, size: int = 10_000) -> DataSplits:
    """The adding problem (Hochreiter & Schmidhuber 1997): `size` sequences of `length` steps of
    (value, marker); values uniform in [0, 1], one marked position in each half; the target is
    the sum of the two marked values. Predicting 1 always scores an MSE of 1/6."""
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    if size < 10:
        raise ValueError(f"size must be >= 10, got {size}")
    rng = np.random.default_rng([SPLIT_SEED, length, size])
    values = rng.random((size, length), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, size)
    second = rng.integers(half, length, size)
    markers = np.zeros((size, length), dtype=np.float32)
    rows = np.arange(size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2)
    y = values[rows, first] + values[rows, second]
    return split_arrays(x, y, task="regression", feature_names=["value", "marker"])
