"""Datasets by name. Every dataset ships offline; nothing is downloaded at run time."""

from __future__ import annotations

from tunelab.data._base import DataInfo, Dataset, DataSplits, Split
from tunelab.data._digits import load_digits_splits
from tunelab.registry import Registry

datasets: Registry[Dataset] = Registry("dataset")

datasets.register(
    "digits",
    Dataset(
        name="digits",
        description="scikit-learn's 1,797 8x8 handwritten digits, 10 classes, split 60/20/20",
        task="classification",
        load=load_digits_splits,
    ),
)

__all__ = ["DataInfo", "DataSplits", "Dataset", "Split", "datasets", "load_digits_splits"]
