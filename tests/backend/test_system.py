"""System metrics sampled in a trial's own process: at the interval the spec sets, each sample
handed over once. Waits on conditions, never on a count of samples in a fixed time."""

from __future__ import annotations

import itertools
import time

from tunelab.backend import SystemSampler


def collect(sampler: SystemSampler, count: int, timeout_s: float = 60.0) -> list[dict[str, float]]:
    """Drain until `count` samples have arrived (a loaded machine only makes this slower)."""
    samples: list[dict[str, float]] = []
    deadline = time.monotonic() + timeout_s
    while len(samples) < count and time.monotonic() < deadline:
        samples += sampler.drain()
        time.sleep(0.02)
    assert len(samples) >= count, f"{len(samples)} samples in {timeout_s} s"
    return samples


def test_sampler_samples_soon_after_start_then_at_its_interval() -> None:
    started_ms = time.time() * 1000
    with SystemSampler(0.2) as sampler:
        time.sleep(0.15)  # no drain before the thread's first sample (see the test below)
        samples = collect(sampler, 3)
    times = [s["t"] for s in samples]
    assert times == sorted(times)
    assert times[0] - started_ms >= 90  # the first at 0.1 s, not at once (primed counters)
    # Each sample waits its interval after the one before (a busy machine only adds to it).
    assert all(later - earlier >= 190 for earlier, later in itertools.pairwise(times))
    for sample in samples:
        assert 0 <= sample["system/cpu_utilization_percentage"] <= 100
        assert 0 < sample["system/system_memory_usage_percentage"] <= 100
        assert sample["system/process_memory_rss_megabytes"] > 1


def test_each_sample_is_handed_over_once() -> None:
    with SystemSampler(3600) as sampler:  # one sample soon after the start, the next in an hour
        first = collect(sampler, 1)
        assert len(first) == 1
        assert sampler.drain() == []


def test_a_trial_that_reports_before_the_first_sample_still_hands_one_over() -> None:
    # A trial of two short epochs can report (and end) before the thread's first sample.
    with SystemSampler(3600) as sampler:
        first = sampler.drain()
        assert len(first) == 1 and 0 <= first[0]["system/cpu_utilization_percentage"] <= 100
        later = collect(sampler, 1)  # the thread's own, soon after the start, then hourly
        assert len(later) == 1 and later[0]["t"] > first[0]["t"]
        assert sampler.drain() == []


def test_interval_zero_turns_sampling_off() -> None:
    with SystemSampler(0.0) as sampler:
        time.sleep(0.2)
        assert sampler.drain() == []
