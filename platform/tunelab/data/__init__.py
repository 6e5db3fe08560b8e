"""Datasets by name. Every dataset ships offline; nothing is downloaded at run time."""

from __future__ import annotations

from tunelab.data import _builtin as builtin
from tunelab.data._base import INPUT_KINDS, TASKS, DataInfo, Dataset, DataSplits, Split, input_kind
from tunelab.data._files import FILE_OPTIONS, file_kind, load_file
from tunelab.data._plugins import as_dataset
from tunelab.data._split import SPLIT_SEED, check_splits, split_arrays
from tunelab.registry import Registry

datasets: Registry[Dataset] = Registry(
    "dataset", entry_point_group="tunelab.datasets", adapt=as_dataset
)

for _dataset in (
    Dataset(
        "digits",
        "scikit-learn's 1,797 8x8 handwritten digits as images, 10 classes",
        builtin.load_digits,
        task="classification",
        input_kind="image",
    ),
    Dataset(
        "digits_rows",
        "the digits read row by row: sequences of 8 steps of 8 pixels, 10 classes",
        builtin.load_digits_rows,
        task="classification",
        input_kind="sequence",
    ),
    Dataset(
        "digits_0_4",
        "digits 0-4 only: the source task for transfer learning",
        builtin.load_digits_0_4,
        task="classification",
        input_kind="image",
    ),
    Dataset(
        "digits_5_9",
        "digits 5-9 with scarce labels (labels_per_class, default 50): the transfer target",
        builtin.load_digits_5_9,
        task="classification",
        input_kind="image",
        options={"labels_per_class": 50},
    ),
    Dataset(
        "breast_cancer",
        "569 tumours, 30 named features, malignant or benign (tabular)",
        builtin.load_breast_cancer,
        task="classification",
        input_kind="tabular",
    ),
    Dataset(
        "wine",
        "178 wines, 13 named chemical features, 3 cultivars (tabular)",
        builtin.load_wine,
        task="classification",
        input_kind="tabular",
    ),
    Dataset(
        "adding",
        "the adding problem: sum the two marked values of a long sequence (regression)",
        builtin.load_adding,
        task="regression",
        input_kind="sequence",
        options={"length": 50, "size": 10_000},
    ),
):
    datasets.register(_dataset.name, _dataset)

__all__ = [
    "FILE_OPTIONS",
    "INPUT_KINDS",
    "SPLIT_SEED",
    "TASKS",
    "DataInfo",
    "DataSplits",
    "Dataset",
    "Split",
    "as_dataset",
    "check_splits",
    "datasets",
    "file_kind",
    "input_kind",
    "load_file",
    "split_arrays",
]
