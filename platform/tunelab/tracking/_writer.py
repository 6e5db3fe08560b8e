"""The one writer to MLflow. Callers enqueue and return at once; a background thread creates runs
and writes params, metrics and tags in batches, so no trial and no scheduler decision ever waits
on the tracking store."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import env
from tunelab.errors import TrackingError, TunelabError, first_line_of
from tunelab.tracking._ops import (
    Barrier,
    Call,
    CreateRun,
    End,
    Log,
    Pending,
    Reopen,
    Unreachable,
    now_ms,
    unreachable,
)
from tunelab.tracking._outage import Outage
from tunelab.tracking._spool import Spool, SpoolState, free_spool_path, kept_spools
from tunelab.tracking._store import connect, find_run

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

SWEEP = "__sweep__"  # the key of the parent run
# MLflow's per-call limits for log_batch.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
RETRY_DELAYS_S = (0.5, 1.0, 2.0)
WRITER_NICENESS = 10
# No "View run at" line per run, and HTTP requests that give up fast: the writer keeps what it
# cannot send and tries again itself (see env.LIBRARY_DEFAULTS).
CLIENT_DEFAULTS = (
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)
SPOOL_MAX_BYTES = 512 * 2**20  # past this, kept metric points are dropped (and counted)


class TrackingWriter:
    def __init__(
        self,
        tracking_uri: str | None,
        experiment: str,
        *,
        batch_window_s: float = 0.2,
        spool_path: str | Path | None = None,
        spool_max_bytes: int = SPOOL_MAX_BYTES,
    ):
        self.tracking_uri = tracking_uri
        self.spool_path = Path(spool_path) if spool_path else None
        self.spool_max_bytes = spool_max_bytes
        self._outage: Outage | None = None  # while the store is unreachable
        self.experiment = experiment
        self.batch_window_s = batch_window_s
        self.failed_writes: list[str] = []
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._run_ids: dict[str, str] = {}
        self._ready = threading.Event()
        self._open_error: str | None = None
        self._name_taken = False  # the store holds a sweep of this name already
        self._sweep_name = ""
        self._closing = False
        self._thread = threading.Thread(target=self._main, name="tunelab-tracking", daemon=True)
        self.experiment_id: str | None = None

    # -- called from the driver ------------------------------------------------------------------

    def open_sweep(
        self,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, str],
        *,
        reopen: bool = False,
    ) -> None:
        """Start the writer; it connects and creates the parent run while the caller goes on.
        With `reopen`, the sweep's existing parent run is marked running again instead (an
        extended sweep); `params` must then be new keys: MLflow never changes a param."""
        self._sweep_name = name
        self._queue.put(CreateRun(SWEEP, name, tags, params, reuse=reopen))
        self._thread.start()

    def adopt(self, key: str, run_id: str) -> None:
        """Name an existing run (an extended sweep's earlier trial) without writing to it."""
        self._run_ids[key] = run_id

    def wait_ready(self, timeout_s: float = 120.0) -> str:
        """Block until the parent run exists; returns its id. Raises TrackingError if it cannot."""
        if not self._ready.wait(timeout_s):
            raise TrackingError(
                f"the tracking store {self.tracking_uri} did not answer in {timeout_s:.0f} s"
            )
        if self._name_taken:
            raise TunelabError(
                f"a sweep named '{self._sweep_name}' already exists in the tracking store "
                f"{self.tracking_uri}; choose another --name"
            )
        if self._open_error:
            raise TrackingError(
                f"cannot use the tracking store {self.tracking_uri}: {self._open_error}"
            )
        return self._run_ids[SWEEP]

    def start_run(
        self, key: str, name: str, tags: Mapping[str, str], params: Mapping[str, str]
    ) -> None:
        self._queue.put(CreateRun(key, name, tags, params))

    def log(
        self, key: str, step: int, metrics: Mapping[str, float], timestamp_ms: int | None = None
    ) -> None:
        ms = timestamp_ms or now_ms()
        self._queue.put(Log(key, [(k, v, ms, step) for k, v in metrics.items()]))

    def set_tags(self, key: str, tags: Mapping[str, str]) -> None:
        self._queue.put(Log(key, tags=tags))

    def end_run(self, key: str, status: str, tags: Mapping[str, str] | None = None) -> None:
        self._queue.put(End(key, status, tags or {}))

    def reopen(self, key: str) -> None:
        """Mark a run that had ended RUNNING again (a resumed sweep's trial going on)."""
        self._queue.put(Reopen(key))

    def call(
        self,
        what: str,
        fn: Callable[[MlflowClient, Mapping[str, str]], None],
        *,
        local: bool = False,
    ) -> None:
        """Work with the client, in order with the writes. One that can describe itself as data
        (`fn.record()`, see _durable) waits on disk while the store is away; a `local` one does
        not use the store (it runs then too)."""
        self._queue.put(Call(fn, what, durable=getattr(fn, "record", None), local=local))

    def after_written(self, what: str, fn: Callable[[], None]) -> None:
        """Run `fn`, which does not use the store, once everything enqueued before it is written
        (at the end of its batch, not splitting it). While the store is away it waits, in
        memory, until what came before it is sent."""
        self._queue.put(Call(lambda _client, _ids: fn(), what, after_batch=True))

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything enqueued so far is written (or given up on)."""
        if not self._thread.is_alive():
            return True
        barrier = Barrier()
        self._queue.put(barrier)
        return barrier.done.wait(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        self.flush(timeout_s)
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout_s)

    def run_id(self, key: str) -> str | None:
        return self._run_ids.get(key)

    def queued(self) -> int:
        """Writes enqueued and not yet taken up by the writer thread (approximately)."""
        return self._queue.qsize()

    def pending(self) -> SpoolState | None:
        """What is still waiting for an unreachable store, or None when nothing is."""
        outage = self._outage
        return outage.spool.state() if outage is not None and not outage.over else None

    # -- the writer thread -----------------------------------------------------------------------

    def _main(self) -> None:
        # Bookkeeping yields to training: on a busy machine this thread runs at a lower priority
        # (Linux schedules threads one by one), so trials sharing the CPU are not slowed by it.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)
        env.apply_library_defaults(*CLIENT_DEFAULTS)
        try:
            client = self._connect()
        except Exception as exc:
            self._open_error = first_line_of(exc)
            self._ready.set()
            self._drain_after_failure()
            return
        while True:
            if self._outage is not None:
                if self._outage.step(self._queue, client):
                    return
                if self._outage.over:
                    self._outage = None
                continue
            op = self._queue.get()
            if op is None:
                return
            batch = [op]
            if not isinstance(op, Barrier) and not self._closing:
                time.sleep(self.batch_window_s)  # let a batch gather
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            batch = [op for op in batch if op is not None]
            try:
                self._apply(client, batch)
            except Unreachable as exc:
                self._begin_outage(batch, exc).stopping = stop
                continue
            if stop:
                return

    # -- outages: keep what cannot be written on disk, send it when the store is back (_outage) --

    def _begin_outage(self, batch: list[Any], exc: Unreachable) -> Outage:
        logger.warning("tracking: store unreachable (%s); keeping writes on disk", exc)
        path = free_spool_path(
            self.spool_path or Path(tempfile.mkdtemp(prefix="tunelab-spool-")) / "spool.jsonl"
        )
        header = {"experiment_id": self.experiment_id, "run_ids": dict(self._run_ids)}
        outage = self._outage = self._outage_of(Spool(path, self.spool_max_bytes, header=header))
        for op in batch:  # the whole batch again: every write is safe to repeat
            outage.keep(op)
        outage.spool.sync()
        return outage

    def _outage_of(self, spool: Spool) -> Outage:
        return Outage(spool, apply=self._apply, run_local=self._run_local)

    def _run_local(self, op: Call) -> None:
        self._retry(op.what, partial(op.fn, None, dict(self._run_ids)))  # type: ignore[arg-type]

    @property
    def _replaying(self) -> bool:
        return self._outage is not None and self._outage.replaying

    def _connect(self) -> MlflowClient:
        client, self.experiment_id = connect(self.tracking_uri, self.experiment)
        self.tracking_uri = client.tracking_uri
        return client

    def _drain_after_failure(self) -> None:
        while True:
            op = self._queue.get()
            if op is None:
                return
            if isinstance(op, Barrier):
                op.done.set()

    def _apply(self, client: MlflowClient, batch: list[Any]) -> None:
        from mlflow.entities import Metric, RunTag

        pending: dict[str, Pending] = defaultdict(Pending)
        afterwards: list[Call] = []
        for op in batch:
            if isinstance(op, Call) and op.after_batch:
                afterwards.append(op)
            elif isinstance(op, CreateRun):
                self._create(client, op, pending)
            elif isinstance(op, Log):
                run_id = self._run_ids.get(op.key)
                if run_id is None:
                    self.failed_writes.append(f"log for unknown run {op.key}")
                    continue
                entry = pending[run_id]
                entry.metrics += [Metric(k, v, ms, step) for k, v, ms, step in op.metrics]
                entry.tags += [RunTag(k, v) for k, v in op.tags.items()]
            elif isinstance(op, End):
                run_id = self._run_ids.get(op.key)
                if run_id is None:
                    continue
                entry = pending[run_id]
                entry.tags += [RunTag(k, v) for k, v in op.tags.items()]
                self._write_pending(client, run_id, pending.pop(run_id))
                self._retry(
                    f"end run {op.key}",
                    partial(client.set_terminated, run_id, op.status, op.end_ms),
                )
            elif isinstance(op, Reopen):
                run_id = self._run_ids.get(op.key)
                if run_id is not None:
                    self._write_pending(client, run_id, pending.pop(run_id, Pending()))
                    self._retry(
                        f"reopen run {op.key}",
                        partial(client.update_run, run_id, status="RUNNING"),
                    )
            elif isinstance(op, Call):
                self._write_all(client, pending)
                self._retry(op.what, partial(op.fn, client, dict(self._run_ids)))
            elif isinstance(op, Barrier):
                self._write_all(client, pending)
                for call in afterwards:
                    self._retry(call.what, partial(call.fn, client, dict(self._run_ids)))
                afterwards.clear()
                op.done.set()
        self._write_all(client, pending)
        for call in afterwards:
            self._retry(call.what, partial(call.fn, client, dict(self._run_ids)))

    def _create(self, client: MlflowClient, op: CreateRun, pending: dict[str, Pending]) -> None:
        from mlflow.entities import Param

        if op.key in self._run_ids:  # a restarted or resumed trial keeps its run
            return
        try:
            # After an outage the first attempt may have reached the store: look before creating.
            run = self._existing_run(client, op) if self._replaying or op.reuse else None
            new_sweep = op.key == SWEEP and not op.reuse and not self._replaying
            if new_sweep and self._existing_run(client, op) is not None:  # another machine's
                self._name_taken = True
                self._ready.set()
                return
            if run is not None and op.reuse:
                reopened = run.info.run_id
                self._retry_or_raise(
                    f"reopen run {op.name}",
                    lambda: client.update_run(reopened, status="RUNNING"),
                )
            run = run or self._retry_or_raise(f"create run {op.name}", self._creator(client, op))
        except Unreachable:
            if op.key == SWEEP and not self._ready.is_set():
                self._open_error = "the tracking store is unreachable"
                self._ready.set()
                return
            raise
        except Exception as exc:
            if op.key == SWEEP:
                self._open_error = first_line_of(exc)
                self._ready.set()
            return
        run_id = run.info.run_id
        self._run_ids[op.key] = run_id
        pending[run_id].params += [Param(k, v) for k, v in op.params.items()]
        if op.key == SWEEP:
            self._write_pending(client, run_id, pending.pop(run_id))
            self._ready.set()

    def _creator(self, client: MlflowClient, op: CreateRun) -> Callable[[], Any]:
        """Create the run; tried again after a failure, it first looks for the run the failed
        try may have created after all (a request that timed out after it arrived)."""
        tries = 0

        def create() -> Any:
            nonlocal tries
            tries += 1
            found = self._find_run(client, op) if tries > 1 else None
            return found or client.create_run(
                self.experiment_id or "0",
                start_time=op.start_ms,
                tags=dict(op.tags),
                run_name=op.name,
            )

        return create

    def _existing_run(self, client: MlflowClient, op: CreateRun) -> Any:
        return self._retry_or_raise(f"look up run {op.name}", lambda: self._find_run(client, op))

    def _find_run(self, client: MlflowClient, op: CreateRun) -> Any:
        return find_run(client, self.experiment_id, op)

    def _write_all(self, client: MlflowClient, pending: dict[str, Pending]) -> None:
        for run_id in list(pending):
            self._write_pending(client, run_id, pending.pop(run_id))

    def _write_pending(self, client: MlflowClient, run_id: str, entry: Pending) -> None:
        metrics, params, tags = entry.metrics, entry.params, entry.tags
        while metrics or params or tags:
            chunk_m, metrics = metrics[:MAX_METRICS_PER_BATCH], metrics[MAX_METRICS_PER_BATCH:]
            chunk_p, params = params[:MAX_PARAMS_PER_BATCH], params[MAX_PARAMS_PER_BATCH:]
            chunk_t, tags = tags[:MAX_TAGS_PER_BATCH], tags[MAX_TAGS_PER_BATCH:]
            self._retry(
                f"log_batch to run {run_id}",
                partial(client.log_batch, run_id, metrics=chunk_m, params=chunk_p, tags=chunk_t),
            )

    def _retry(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            self._retry_or_raise(what, fn)
        except Unreachable:
            raise
        except Exception as exc:
            first = first_line_of(exc)
            self.failed_writes.append(f"{what}: {first}")
            logger.warning("tracking: gave up on %s: %s", what, first)

    def _retry_or_raise(self, what: str, fn: Callable[[], Any]) -> Any:
        for delay in (*RETRY_DELAYS_S, None):
            try:
                return fn()
            except Exception as exc:
                if delay is None:
                    if unreachable(exc):
                        raise Unreachable(first_line_of(exc)) from exc
                    raise
                logger.debug("tracking: %s failed (%s); retrying in %.1f s", what, exc, delay)
                time.sleep(delay)
        return None


def replay_kept(path: Path, tracking_uri: str | None) -> int:
    """Send what a driver that stopped (killed while the store was away) kept on disk at
    `path`, exactly once, then remove it; returns how many writes were sent. Raises
    TrackingError, keeping the rest, when the store is still away."""
    env.apply_library_defaults(*CLIENT_DEFAULTS)
    sent = 0
    for kept in kept_spools(path):
        spool = Spool(kept, SPOOL_MAX_BYTES)
        writer = TrackingWriter(tracking_uri, experiment="")
        writer.experiment_id = spool.header.get("experiment_id")
        writer._run_ids.update(spool.header.get("run_ids") or {})
        outage = writer._outage = writer._outage_of(spool)
        pending = len(spool)
        try:
            from mlflow import MlflowClient

            outage.replay(MlflowClient(tracking_uri))
        finally:
            spool.close()
        if not outage.over:
            raise TrackingError(
                f"the tracking store {tracking_uri} is unreachable: {len(spool)} writes a "
                f"stopped sweep kept wait in {kept}"
            )
        if writer.failed_writes:
            logger.warning("tracking: gave up on %s", "; ".join(writer.failed_writes))
        sent += pending
    return sent
