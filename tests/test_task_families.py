"""The generated task families the defaults are chosen and reported on (benchmarks/): each
instance is a function of its seed, a dataset tunelab accepts, and its frozen spec is valid."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

from task_families import FAMILIES, TUNING_SEEDS, VALIDATION_SEEDS, Task, tasks

from tunelab.data import check_splits, load_file
from tunelab.spec import check_spec, load_spec


def test_tuning_and_validation_instances_are_apart() -> None:
    assert not set(TUNING_SEEDS) & set(VALIDATION_SEEDS)
    assert len(tasks(TUNING_SEEDS)) == len(FAMILIES) * len(TUNING_SEEDS)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_instance_is_its_seed_and_its_spec_runs_on_it(family: str, tmp_path: Path) -> None:
    task = Task(family, VALIDATION_SEEDS[0])
    path, digest = task.write(tmp_path / "one")
    digest_again = task.write(tmp_path / "two")[1]
    assert digest == digest_again  # the same seed, the same data and spec
    other = Task(family, VALIDATION_SEEDS[1]).write(tmp_path / "three")[1]
    assert other != digest
    data = load_file(path.parent / "data.npz")
    assert check_splits(data) is None
    _, y = FAMILIES[family](task.seed)
    if data.task == "classification":
        assert data.n_classes == int(y.max()) + 1 >= 2
        assert np.bincount(y).min() >= len(y) // (4 * data.n_classes)  # no class left out
    else:
        assert abs(float(y.std()) - 1.0) < 1e-3  # standardised: MSE comparable across seeds
    check_spec(load_spec(path))  # the stock model and space fit the data
