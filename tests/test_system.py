from __future__ import annotations

import time

from tunelab._system import SystemSampler


def test_sampler_samples_soon_after_start_then_at_its_interval() -> None:
    with SystemSampler(0.2) as sampler:
        time.sleep(0.75)
        samples = sampler.drain()
        assert 3 <= len(samples) <= 5
        assert sampler.drain() == []  # handed over once
    times = [s["t"] for s in samples]
    assert times == sorted(times)
    for sample in samples:
        assert 0 <= sample["system/cpu_utilization_percentage"] <= 100
        assert 0 < sample["system/system_memory_usage_percentage"] <= 100
        assert sample["system/process_memory_rss_megabytes"] > 1


def test_interval_zero_turns_sampling_off() -> None:
    with SystemSampler(0.0) as sampler:
        time.sleep(0.2)
        assert sampler.drain() == []
