"""What the tracking writer is asked to do, as data: the operations it queues, how a kept
operation reads on disk while the store is unreachable, and how an unreachable store is told
from a refused write."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class CreateRun:
    key: str
    name: str
    tags: Mapping[str, str]
    params: Mapping[str, str]
    reuse: bool = False  # an existing run of this name in this sweep is reopened, not created
    # When the run began (ms): when the driver asked for it, not when the writer got to it,
    # which can be seconds later, or minutes after an outage.
    start_ms: int = field(default_factory=now_ms)


@dataclass
class Log:
    key: str
    metrics: list[tuple[str, float, int, int]] = field(
        default_factory=list
    )  # name, value, ms, step
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class End:
    key: str
    status: str
    tags: Mapping[str, str]
    end_ms: int = field(default_factory=now_ms)  # when it ended, however late the store hears


@dataclass
class Reopen:
    """An ended run running again (a resumed sweep's trial)."""

    key: str


@dataclass
class Call:
    """Arbitrary work with the client and the run-id map, in order with everything else.
    `durable` describes it as data (see _durable), so it can wait on disk for the store; a
    `local` call does not use the store at all (it runs even while the store is away). An
    `after_batch` call runs once the writes of its batch (all those before it) are written."""

    fn: Callable[[MlflowClient, Mapping[str, str]], None]
    what: str
    durable: Callable[[], dict[str, Any]] | None = None
    local: bool = False
    after_batch: bool = False


@dataclass
class Barrier:
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Pending:
    metrics: list[Any] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)


def to_record(op: Any) -> dict[str, Any] | None:
    """An operation as a JSON line of the spool; None for one that stays in memory (code to run,
    a barrier to release), in its place in the order."""
    if isinstance(op, CreateRun):
        record = {"op": "create", "key": op.key, "name": op.name, "reuse": op.reuse}
        return {
            **record,
            "tags": dict(op.tags),
            "params": dict(op.params),
            "start_ms": op.start_ms,
        }
    if isinstance(op, Log):
        return {"op": "log", "key": op.key, "metrics": op.metrics, "tags": dict(op.tags)}
    if isinstance(op, End):
        record = {"op": "end", "key": op.key, "status": op.status, "tags": dict(op.tags)}
        return {**record, "end_ms": op.end_ms}
    if isinstance(op, Reopen):
        return {"op": "reopen", "key": op.key}
    if isinstance(op, Call) and op.durable is not None:
        return {"op": "call", "what": op.what, "call": op.durable()}
    return None


class Unreachable(Exception):
    """The tracking store did not answer (refused, timed out, a server error, or a SQLite file
    another writer holds): what could not be written is kept and sent again."""


UNREACHABLE_SIGNS = (
    "database is locked",  # another process writing the same SQLite store: wait, never drop
    "Max retries exceeded",
    "Connection refused",
    "Connection aborted",
    "Connection reset",
    "timed out",
    "Read timed out",
    "502",
    "503",
    "504",
)


def unreachable(exc: BaseException) -> bool:
    """Whether a failed write failed because the store was not there or busy (worth keeping
    and trying again), not because the store refused it (a bad request, which trying again
    will not fix)."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    text = str(exc)
    return any(sign in text for sign in UNREACHABLE_SIGNS)


def from_record(record: Any) -> Any:
    if not isinstance(record, dict):
        return record  # code or a barrier, kept in memory
    kind = record["op"]
    if kind == "create":
        return CreateRun(
            record["key"],
            record["name"],
            record["tags"],
            record["params"],
            bool(record.get("reuse", False)),
            record.get("start_ms") or now_ms(),
        )
    if kind == "log":
        metrics = [tuple(m) for m in record["metrics"]]
        return Log(record["key"], metrics, record["tags"])  # type: ignore[arg-type]
    if kind == "reopen":
        return Reopen(record["key"])
    if kind == "call":
        from tunelab.tracking._durable import durable_write

        return Call(durable_write(record["call"]), record["what"])
    return End(record["key"], record["status"], record["tags"], record.get("end_ms") or now_ms())
