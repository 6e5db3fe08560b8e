"""Every sweep in the store with its state (running, finished, interrupted, failed) and its
trials by outcome; and closing an interrupted sweep, whose runs its lost driver left RUNNING."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tunelab import tracking
from tunelab.errors import TunelabError
from tunelab.sweeps._heartbeat import STALE_BEATS, is_stale
from tunelab.sweeps._state import Outcome, end_tags
from tunelab.tracking.tags import (
    TAG_CLOSED,
    TAG_HEARTBEAT,
    TAG_HEARTBEAT_S,
    TAG_OUTCOME,
    TAG_SWEEP,
)

RUNNING, FINISHED, INTERRUPTED, FAILED = "running", "finished", "interrupted", "failed"
OPEN = "open"  # a trial that started and has no outcome: running, or lost with its driver


@dataclass(frozen=True)
class SweepInfo:
    name: str
    state: str  # running, finished, interrupted (its driver stopped or was lost), failed
    parent_run_id: str
    started_ms: int
    trials: dict[str, int] = field(default_factory=dict)  # by outcome, and `open`


def list_sweeps(*, tracking_uri: str | None = None) -> list[SweepInfo]:
    """Every sweep in the store, the latest first, with its state and its trials' outcomes."""
    client = tracking.client(tracking_uri)
    trials: dict[str, Counter[str]] = {}
    for run in tracking.all_trials(client):
        outcome = run.data.tags.get(TAG_OUTCOME) or OPEN
        trials.setdefault(run.data.tags.get(TAG_SWEEP, ""), Counter())[outcome] += 1
    return [
        SweepInfo(
            name=parent.data.tags.get(TAG_SWEEP, parent.info.run_id),
            state=state_of(parent),
            parent_run_id=parent.info.run_id,
            started_ms=int(parent.info.start_time or 0),
            trials=dict(trials.get(parent.data.tags.get(TAG_SWEEP, ""), {})),
        )
        for parent in tracking.all_sweeps(client)
    ]


def state_of(parent: Any) -> str:
    """A sweep's state from its parent run: RUNNING is `running` only while its heartbeat is
    fresh; a lost driver leaves it RUNNING with an old heartbeat: `interrupted`."""
    status = parent.info.status
    if status == "RUNNING":
        tags = parent.data.tags
        beat = is_stale(tags.get(TAG_HEARTBEAT), tags.get(TAG_HEARTBEAT_S))
        return INTERRUPTED if beat else RUNNING
    return {"FINISHED": FINISHED, "KILLED": INTERRUPTED}.get(status, FAILED)


def stopped_sweep(client: Any, name: str, verb: str, *, wait: bool = False) -> Any:
    """The parent run of a sweep whose driver stopped before it ended; None for a finished
    sweep. One whose heartbeat is fresh is running somewhere: refused, naming the `verb`; or
    with `wait`, waited on until its heartbeat goes stale (a driver killed a moment ago, a
    preempted submitter run again at once), and refused only if it is renewed meanwhile."""
    parent = tracking.find_sweep(client, name)
    state = state_of(parent)
    if state == RUNNING and wait:
        parent = _until_stale(client, name, parent, verb)
        state = state_of(parent)
    if state == FINISHED:
        return None
    if state == RUNNING:
        raise TunelabError(
            f"sweep {name!r} is running: its heartbeat is {heartbeat_age(parent)} old; "
            f"{verb} it once its driver has stopped"
        )
    return parent


def _until_stale(client: Any, name: str, parent: Any, verb: str) -> Any:
    """The sweep's parent run once its heartbeat is stale or the sweep has ended, saying how
    long that is; refused if the heartbeat is renewed meanwhile (its driver is alive)."""
    tags = parent.data.tags
    beat, every_s = float(tags.get(TAG_HEARTBEAT) or 0), float(tags.get(TAG_HEARTBEAT_S) or 30)
    wait_s = max(0.0, beat + STALE_BEATS * every_s - time.time()) + 1
    print(
        f"tunelab: sweep {name!r} has a heartbeat {heartbeat_age(parent)} old: waiting "
        f"{wait_s:.0f} s for it to go stale (a driver that was just stopped), then it goes on",
        file=sys.stderr,
    )
    deadline = time.monotonic() + wait_s
    while True:
        time.sleep(max(0.5, min(every_s, deadline - time.monotonic())))
        parent = tracking.get_run(client, parent.info.run_id)
        renewed = float(parent.data.tags.get(TAG_HEARTBEAT) or 0) > beat
        if state_of(parent) != RUNNING:
            return parent
        if renewed:
            raise TunelabError(
                f"sweep {name!r} is running: its heartbeat is {heartbeat_age(parent)} old and "
                f"was renewed while this waited; {verb} it once its driver has stopped"
            )


def sweep_exists(name: str, *, tracking_uri: str | None = None) -> bool:
    """Whether the store has a sweep called `name`."""
    from tunelab.errors import NotFoundError

    try:
        tracking.find_sweep(tracking.client(tracking_uri), name)
    except NotFoundError:
        return False
    return True


def close_sweep(
    name: str, *, reason: str | None = None, tracking_uri: str | None = None
) -> int | None:
    """End an interrupted sweep's parent and open trial runs as KILLED, with the reason; returns
    how many trial runs it ended, or None for a sweep that is finished. A sweep still running
    elsewhere (its heartbeat fresh) is refused."""
    client = tracking.client(tracking_uri)
    parent = stopped_sweep(client, name, "close")
    if parent is None:
        return None
    why = (reason or "").strip() or "closed: its driver was lost"
    closed = 0
    for run in tracking.sweep_trials(client, parent):
        if run.info.status == "RUNNING":
            tags = {**end_tags(Outcome.KILLED), TAG_CLOSED: why}
            tracking.end_run(client, run.info.run_id, "KILLED", tags)
            closed += 1
    if parent.info.status == "RUNNING":
        tracking.end_run(client, parent.info.run_id, "KILLED", {TAG_CLOSED: why})
    return closed


def heartbeat_age(parent: Any) -> str:
    import time

    beat = parent.data.tags.get(TAG_HEARTBEAT)
    return f"{time.time() - float(beat):.0f} s" if beat else "unknown"
