"""The writer's outage: while the tracking store is unreachable, what the writer is given is
kept on disk in order (a spool, see _spool), a batch at a time, so what the driver recorded
outlives it; every OUTAGE_PROBE_S the spool is sent, oldest first, and the outage is over once
all of it is. Every write is safe to repeat, so a batch cut by the outage is kept whole."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tunelab.errors import first_line_of
from tunelab.tracking._ops import Call, Unreachable, from_record, to_record
from tunelab.tracking._spool import Spool

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

OUTAGE_PROBE_S = 2.0  # while the store is unreachable, how often to try it again
REPLAY_CHUNK = 500  # kept writes sent per batch once it is back


class Outage:
    """One outage of the store. `apply(client, ops)` writes ops to the store (raising
    Unreachable while it is away); `run_local(call)` runs a call that does not use the store,
    which an outage does not hold back."""

    def __init__(
        self,
        spool: Spool,
        *,
        apply: Callable[[MlflowClient, list[Any]], None],
        run_local: Callable[[Call], None],
    ) -> None:
        self.spool = spool
        self.apply, self.run_local = apply, run_local
        self.next_probe = time.monotonic() + OUTAGE_PROBE_S
        self.stopping = False  # the writer was asked to stop: nothing more arrives
        self.replaying = False  # sending the spool: runs it creates may exist already
        self.over = False  # everything kept was sent

    def keep(self, op: Any) -> None:
        """Keep a write on disk; one that cannot be described as data (other code, a barrier)
        waits in memory, in its place."""
        if isinstance(op, Call) and op.local:
            self.run_local(op)
            return
        try:
            record = to_record(op)  # None: other code, and barriers, wait in memory in place
        except Exception as exc:  # it could not be described; it waits in memory instead
            logger.warning("tracking: cannot keep %s on disk: %s", op, first_line_of(exc))
            record = None
        self.spool.append(record, in_memory=None if record is not None else op)

    def step(self, waiting: queue.SimpleQueue[Any], client: MlflowClient) -> bool:
        """Move what arrives to the spool; every few seconds try to send it. True: all is sent
        and the writer was asked to stop."""
        wait = max(0.0, self.next_probe - time.monotonic())
        if self.stopping:
            time.sleep(wait)  # nothing more can arrive
        else:
            try:
                op = waiting.get(timeout=wait) if wait > 0 else waiting.get_nowait()
                while True:
                    if op is None:
                        self.stopping = True
                        break
                    self.keep(op)
                    op = waiting.get_nowait()
            except queue.Empty:
                pass
            self.spool.sync()  # a batch at a time: what the driver recorded outlives it
        if time.monotonic() >= self.next_probe:
            self.replay(client)
            self.next_probe = time.monotonic() + OUTAGE_PROBE_S
        return self.over and self.stopping

    def replay(self, client: MlflowClient) -> None:
        """Send the spool in order. Stays in the outage at the first write the store refuses."""
        spool = self.spool
        self.replaying = True
        try:
            while len(spool):
                records = spool.peek(REPLAY_CHUNK)
                if not spool.peeked:
                    break  # nothing whole is left (a torn last line)
                self.apply(client, [from_record(r) for r in records])
                spool.commit()
        except Unreachable:
            return
        finally:
            self.replaying = False
        logger.warning("tracking: store reachable again; the kept writes are sent")
        self.over = True
        spool.remove()
