"""A trial keeps its best `checkpoints.keep` checkpoints by the metric and always its latest;
the rest are deleted as soon as a newer checkpoint makes them redundant."""

from __future__ import annotations

import math

from tunelab.backend._retention import Retention


def kept_after(retention: Retention, values: list[float], trial: str = "t") -> list[int]:
    """Feed checkpoints 1..n with these metric values; the epochs still kept."""
    dropped: list[int] = []
    for epoch, value in enumerate(values, start=1):
        dropped += retention.add(trial, epoch, value)
    kept = [k.checkpoint for k in retention.kept[trial]]
    assert sorted(kept + dropped) == list(range(1, len(values) + 1))  # each one, once
    return kept


def test_keep_one_keeps_the_best_and_the_latest() -> None:
    assert kept_after(Retention(1, "max"), [0.5, 0.9, 0.7, 0.6]) == [2, 4]
    assert kept_after(Retention(1, "min"), [0.5, 0.9, 0.7, 0.6]) == [1, 4]


def test_the_latest_counts_among_the_best() -> None:
    # Improving every epoch: only the latest is kept, it is also the best.
    assert kept_after(Retention(1, "max"), [0.1, 0.2, 0.3]) == [3]
    assert kept_after(Retention(2, "max"), [0.1, 0.2, 0.3, 0.25]) == [3, 4]


def test_a_tie_keeps_the_newer_checkpoint() -> None:
    assert kept_after(Retention(1, "max"), [0.8, 0.8, 0.1]) == [2, 3]


def test_a_missing_or_non_finite_value_ranks_last_but_the_latest_stays() -> None:
    retention = Retention(1, "max")
    assert kept_after(retention, [0.3, math.nan, None, 0.1]) == [1, 4]  # type: ignore[list-item]
    assert kept_after(Retention(1, "max"), [0.3, math.nan]) == [1, 2]


def test_trials_are_kept_apart() -> None:
    retention = Retention(1, "max")
    retention.add("a", "a1", 0.9)
    assert retention.add("b", "b1", 0.1) == []
    assert retention.add("b", "b2", 0.2) == ["b1"]
    assert retention.add("a", "a2", 0.5) == []  # a1 is a's best


def test_a_population_based_sweep_also_keeps_its_perturbation_checkpoints() -> None:
    """What PBT may hand a trial that exploits this one: its checkpoint of an epoch that is a
    multiple of the interval (the last at which it was in the top quantile), even when it is
    neither the best nor the latest."""
    retention = Retention(1, "max", pin_every=3)
    dropped: list[int] = []
    for epoch, value in enumerate([0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], start=1):
        dropped += retention.add("t", epoch, value, epoch)
    assert [k.checkpoint for k in retention.kept["t"]] == [1, 3, 6, 7]  # best, pinned, latest
    assert sorted(dropped) == [2, 4, 5]
