"""The measurement behind `fusion: auto`: fused training's examples per second by group size."""

from __future__ import annotations

from typing import Any

import pytest

from tunelab.data import datasets
from tunelab.models import architectures
from tunelab.training import _probe, fusion_throughput

CONFIG = {"depth": 1, "width": 16, "lr": 1e-3, "dropout": 0.1, "seed": 0}


@pytest.fixture(scope="module")
def digits() -> Any:
    return datasets.get("digits").load()


def test_each_size_is_measured_training_for_real(digits: Any) -> None:
    rates = fusion_throughput(CONFIG, digits, architectures.get("mlp"), sizes=[2], seconds=0.05)
    assert list(rates) == [1, 2]
    assert all(rate > 0 for rate in rates.values())


def test_sizes_stop_where_a_larger_group_no_longer_gains(
    digits: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed: list[int] = []
    measured = {32: 100.0, 64: 180.0, 128: 250.0, 256: 255.0, 512: 900.0}  # by examples a step

    def examples_per_s(step: Any, examples: int, seconds: float, device: Any) -> float:
        step()  # a real step of the group: built, fed and stepped
        timed.append(examples // 32)  # batches of 32: the group's size
        return measured[examples]

    monkeypatch.setattr(_probe, "_examples_per_s", examples_per_s)
    config = {**CONFIG, "batch_size": 32}
    rates = fusion_throughput(config, digits, architectures.get("mlp"), sizes=[8, 2, 4, 16])
    # 8 gains under 5% on 4: 16 is not tried
    assert timed == [1, 2, 4, 8]
    assert rates == {1: 100.0, 2: 180.0, 4: 250.0, 8: 255.0}
