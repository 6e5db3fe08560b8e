"""The sweep's levels for Prometheus, published every few seconds while its trials run: trials
in each state, retries, budget spent against its caps, and the tracking writer's backlog. The
events (results, epochs, trial durations, the best so far) are published as they happen, by the
recorder."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from tunelab.sweeps._budget import Budget
from tunelab.sweeps._state import SweepState
from tunelab.tracking import TrackingWriter

if TYPE_CHECKING:
    from tunelab.backend import SweepMetrics

PUBLISH_EVERY_S = 2.0


class LevelPublisher:
    def __init__(
        self,
        metrics: SweepMetrics,
        state: SweepState,
        budget: Budget,
        writer: TrackingWriter,
        every_s: float = PUBLISH_EVERY_S,
    ) -> None:
        self.metrics, self.state, self.budget, self.writer = metrics, state, budget, writer
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tunelab-metrics", daemon=True)

    def __enter__(self) -> LevelPublisher:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()  # before Ray stops: nothing may record after that
        self.publish()  # the levels the sweep ends with

    def publish(self) -> None:
        pending = self.writer.pending()
        self.metrics.levels(
            trials=self.state.levels(),
            retries=self.state.retries(),
            spent=self.budget.spent(),
            caps=self.budget.caps(),
            queued=self.writer.queued(),
            spooled_points=pending.points if pending is not None else 0,
        )

    def _run(self) -> None:
        while True:
            self.publish()
            if self._stop.wait(self.every_s):
                return
