"""System metrics sampled inside a trial's own process, at the interval the spec sets: CPU and
memory, and GPU memory and utilisation when the trial runs on one. Named as MLflow names its own
system metrics, so the UI shows them in its system-metrics charts."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

SYSTEM_KEY = "_system"  # the field of a trial's result that carries its samples
PREFIX = "system/"


class SystemSampler:
    """A daemon thread that samples every `interval_s` (and once at start) until stopped.
    `drain()` hands over the samples taken since the last call: [{"t": ms, NAME: value}]; the
    first call takes one itself if the thread has not yet, so a trial shorter than the first
    interval still records one."""

    def __init__(self, interval_s: float, *, gpu: bool = False) -> None:
        import psutil

        self.interval_s = interval_s
        self.gpu = gpu
        self._process = psutil.Process()
        self._samples: list[dict[str, float]] = []
        self._sampled = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tunelab-system", daemon=True)
        psutil.cpu_percent(None)  # the first reading of each counter is meaningless: prime them
        self._process.cpu_percent(None)

    def __enter__(self) -> SystemSampler:
        if self.interval_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def drain(self) -> list[dict[str, float]]:
        with self._lock:
            if not self._sampled and self.interval_s > 0:
                self._samples.append(self.sample())
            samples, self._samples = self._samples, []
            self._sampled = True
        return samples

    def _run(self) -> None:
        delay = min(0.1, self.interval_s)  # one sample soon after the start, whatever the interval
        while not self._stop.wait(delay):
            sample = self.sample()
            with self._lock:
                self._samples.append(sample)
                self._sampled = True
            delay = self.interval_s

    def sample(self) -> dict[str, float]:
        import psutil

        memory = psutil.virtual_memory()
        sample = {
            "t": time.time() * 1000,
            f"{PREFIX}cpu_utilization_percentage": psutil.cpu_percent(None),
            f"{PREFIX}process_cpu_utilization_percentage": self._process.cpu_percent(None),
            f"{PREFIX}system_memory_usage_percentage": memory.percent,
            f"{PREFIX}process_memory_rss_megabytes": self._process.memory_info().rss / 2**20,
        }
        if self.gpu:
            sample.update(_gpu_sample())
        return sample


def _gpu_sample() -> dict[str, float]:
    import torch

    out: dict[str, float] = {}
    if not torch.cuda.is_available():
        return out
    device = torch.cuda.current_device()
    out[f"{PREFIX}gpu_{device}_memory_usage_megabytes"] = torch.cuda.memory_reserved(device) / 2**20
    # Utilisation needs NVIDIA's management library, which is not always installed.
    with contextlib.suppress(Exception):
        out[f"{PREFIX}gpu_{device}_utilization_percentage"] = float(torch.cuda.utilization(device))
    return out
