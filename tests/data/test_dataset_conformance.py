"""Every dataset a spec can name passes the same checks: the built-ins, and a plugin's loader
adapted the way an entry point's is. What a trial and a report rely on is checked here once
for all of them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tunelab.data import (
    DataInfo,
    Dataset,
    DataSplits,
    as_dataset,
    check_splits,
    datasets,
    input_kind,
)
from tunelab.models import architectures

EXAMPLE_PLUGIN = Path(__file__).parents[1] / "plugins" / "example"


def plugin_rings() -> Dataset:
    sys.path.insert(0, str(EXAMPLE_PLUGIN))
    try:
        from tunelab_example_plugin.data import load_rings
    finally:
        sys.path.remove(str(EXAMPLE_PLUGIN))
    return as_dataset("rings", load_rings)


def every_dataset() -> list[Dataset]:
    return [dataset for _, dataset in datasets.items()] + [plugin_rings()]


@pytest.fixture(scope="module", params=every_dataset(), ids=lambda d: d.name)
def loaded(request: pytest.FixtureRequest) -> tuple[Dataset, DataSplits]:
    dataset: Dataset = request.param
    return dataset, dataset.load()


def test_usable_and_as_declared(loaded: tuple[Dataset, DataSplits]) -> None:
    dataset, data = loaded
    assert check_splits(data) is None
    assert all(len(split) > 0 for split in (data.train, data.val, data.test))
    if dataset.task is not None:
        assert data.task == dataset.task
    if dataset.input_kind is not None:
        assert input_kind(data.input_shape) == dataset.input_kind
    assert DataInfo.from_dict(data.info.as_dict()) == data.info  # checkpoints rebuild it
    if data.feature_names:
        assert len(data.feature_names) == data.input_shape[-1]
    if data.task == "classification":
        if data.class_names:
            assert len(data.class_names) == data.n_classes
        assert set(np.unique(data.train.y).tolist()) == set(range(data.n_classes))


def test_the_same_splits_every_time(loaded: tuple[Dataset, DataSplits]) -> None:
    dataset, data = loaded
    again = dataset.load()
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(again, name).x, getattr(data, name).x)
        np.testing.assert_array_equal(getattr(again, name).y, getattr(data, name).y)


def test_the_test_split_is_never_trained_or_validated_on(
    loaded: tuple[Dataset, DataSplits],
) -> None:
    _, data = loaded
    seen = {row.tobytes() for split in (data.train, data.val) for row in split.x}
    assert not any(row.tobytes() in seen for row in data.test.x)


def test_declared_options_are_accepted_with_their_defaults(
    loaded: tuple[Dataset, DataSplits],
) -> None:
    dataset, data = loaded
    if not dataset.options:
        return  # a plugin's loader declares none; files declare theirs per kind
    with_defaults = dataset.load(**dataset.options)
    np.testing.assert_array_equal(with_defaults.test.x, data.test.x)


def test_some_model_can_train_on_it(loaded: tuple[Dataset, DataSplits]) -> None:
    _, data = loaded
    readers = [
        name
        for name, arch in architectures.items()
        if data.task in arch.tasks and input_kind(data.input_shape) in arch.inputs
    ]
    assert readers, f"no built-in model reads {data.task} {input_kind(data.input_shape)} data"
