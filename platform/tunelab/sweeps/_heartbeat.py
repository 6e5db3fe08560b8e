"""A running sweep's heartbeat: its parent run's `tunelab.heartbeat` tag, the time in seconds,
renewed every `tunelab.heartbeat_s` seconds while the sweep runs. A sweep whose run is RUNNING
but whose heartbeat is three intervals old lost its driver; one whose heartbeat is fresh is
running somewhere, and nothing else may take it over."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from tunelab import env
from tunelab.tracking import SWEEP, TrackingWriter
from tunelab.tracking.tags import TAG_HEARTBEAT, TAG_HEARTBEAT_S

HEARTBEAT_S = 30.0  # how often it is renewed, unless TUNELAB_HEARTBEAT_S says otherwise
STALE_BEATS = 3  # a heartbeat this many intervals old: the driver is gone
STALE_S = STALE_BEATS * HEARTBEAT_S


class Heartbeat:
    def __init__(self, writer: TrackingWriter, every_s: float | None = None) -> None:
        self.writer = writer
        self.every_s = every_s or env.TUNELAB_HEARTBEAT_S.get() or HEARTBEAT_S
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
        self.writer.set_tags(SWEEP, {TAG_HEARTBEAT_S: f"{self.every_s:g}"})
        while True:
            self.writer.set_tags(SWEEP, {TAG_HEARTBEAT: f"{time.time():.3f}"})
            if self._stop.wait(self.every_s):
                return


def is_stale(heartbeat: str | None, every_s: str | None = None, now: float | None = None) -> bool:
    """Whether a heartbeat tag, renewed every `every_s` seconds (the sweep's own tag; 30 when
    missing), says its driver is gone. No heartbeat at all: a sweep that never beat."""
    try:
        beat = float(heartbeat or "")
        interval = float(every_s) if every_s else HEARTBEAT_S
    except ValueError:
        return True
    return (now if now is not None else time.time()) - beat > STALE_BEATS * interval
