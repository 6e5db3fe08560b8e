"""A running sweep's heartbeat: its parent run's `tunelab.heartbeat` tag, the time of day in
seconds, renewed while the trials run. A sweep whose run is RUNNING but whose heartbeat is old
lost its driver; one whose heartbeat is fresh is running somewhere."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from tunelab.tracking import SWEEP, TrackingWriter
from tunelab.tracking.tags import TAG_HEARTBEAT

HEARTBEAT_S = 30.0  # how often it is renewed
STALE_S = 3 * HEARTBEAT_S  # older than this: the driver is gone


class Heartbeat:
    def __init__(self, writer: TrackingWriter, every_s: float = HEARTBEAT_S) -> None:
        self.writer, self.every_s = writer, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tunelab-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            self.writer.set_tags(SWEEP, {TAG_HEARTBEAT: str(int(time.time()))})
            if self._stop.wait(self.every_s):
                return


def is_stale(heartbeat: str | None, now: float | None = None) -> bool:
    """Whether a heartbeat tag says its driver is gone (no heartbeat at all: a sweep older than
    heartbeats, or one that never started its trials)."""
    if not heartbeat:
        return True
    try:
        beat = float(heartbeat)
    except ValueError:
        return True
    return (now if now is not None else time.time()) - beat > STALE_S
