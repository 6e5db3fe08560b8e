"""A user's loader as a Dataset: a function returning `DataSplits` or `(x, y)` arrays."""

from __future__ import annotations

from typing import Any

from tunelab.data._base import Dataset, DataSplits
from tunelab.data._split import split_arrays


def as_dataset(name: str, obj: Any) -> Dataset:
    if isinstance(obj, Dataset):
        return obj
    if not callable(obj):
        raise TypeError(f"expected a loader function or a Dataset, got {type(obj).__name__}")

    def load(**options: Any) -> DataSplits:
        out = obj(**options)
        if isinstance(out, tuple) and len(out) == 2:
            return split_arrays(*out)
        return out  # type: ignore[no-any-return]  # checked by check_splits on the driver

    doc = (obj.__doc__ or "").strip().splitlines()
    return Dataset(
        name=name, description=doc[0] if doc else f"loaded by {name}", load=load, options=None
    )
