"""The live objects of a sweep in this process, by sweep name: what receives its trials' events
and answers for its budget. Ray pickles the Tuner's callbacks, stopper and searcher with the
experiment (for `Tuner.restore`); they keep only the sweep's name and find these through it, so
a restored sweep attaches this process's objects, not stale copies of a dead driver's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunelab.backend._events import Budget, TrialEvents

if TYPE_CHECKING:
    from tunelab.backend._groups import Groups


@dataclass(frozen=True)
class Live:
    events: TrialEvents
    budget: Budget
    groups: Groups | None = None  # a fused sweep's groups (see _groups)


_LIVE: dict[str, Live] = {}


@contextmanager
def attached(
    sweep: str, events: TrialEvents, budget: Budget, groups: Groups | None = None
) -> Iterator[None]:
    """Make `events`, `budget` (and a fused sweep's `groups`) the sweep's for the length of
    its run."""
    _LIVE[sweep] = Live(events, budget, groups)
    try:
        yield
    finally:
        _LIVE.pop(sweep, None)


def live(sweep: str) -> Live:
    return _LIVE[sweep]
