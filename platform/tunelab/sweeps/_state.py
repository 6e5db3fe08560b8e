"""What a sweep knows of its trials while it runs: each trial's record, and how a trial ended.
Plain data; the backend's events and the tracking writes are wired elsewhere."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tunelab.errors import first_line
from tunelab.tracking.tags import (
    TAG_BROKEN,
    TAG_ERROR,
    TAG_FEASIBLE,
    TAG_OUTCOME,
    TAG_STOPPED_EARLY,
)


class Outcome(StrEnum):
    COMPLETED = "completed"
    STOPPED_EARLY = "stopped_early"
    STOPPED_BY_BUDGET = "stopped_by_budget"  # a wall-time, compute or epoch cap was reached
    FAILED = "failed"
    KILLED = "killed"


# Outcomes whose trials are ranked: each ended with a checkpoint of its last epoch.
FINISHED = (Outcome.COMPLETED, Outcome.STOPPED_EARLY, Outcome.STOPPED_BY_BUDGET)

# MLflow run status for each outcome. An early stop is the scheduler doing its job, a budget
# stop the spec's: FINISHED, with the checkpoint of the last epoch.
RUN_STATUS = {
    Outcome.COMPLETED: "FINISHED",
    Outcome.STOPPED_EARLY: "FINISHED",
    Outcome.STOPPED_BY_BUDGET: "FINISHED",
    Outcome.FAILED: "FAILED",
    Outcome.KILLED: "KILLED",
}


def trial_outcome(
    *, errored: bool, finished: bool, last_epoch: int | None, max_epochs: int
) -> Outcome:
    """The outcome of a trial that has ended. `finished` means it ended normally (it returned,
    or the scheduler stopped it); anything else that ended without an error was killed."""
    if errored:
        return Outcome.FAILED
    if not finished:
        return Outcome.KILLED
    if last_epoch is not None and last_epoch >= max_epochs:
        return Outcome.COMPLETED
    return Outcome.STOPPED_EARLY


def end_tags(outcome: Outcome, error: str | None = None) -> dict[str, str]:
    """The tags a trial's run ends with: its outcome, and a failure's error in one line."""
    tags = {
        TAG_OUTCOME: outcome.value,
        TAG_STOPPED_EARLY: "true" if outcome is Outcome.STOPPED_EARLY else "false",
    }
    if outcome is Outcome.FAILED:
        tags[TAG_ERROR] = first_line(error or "unknown error")
    return tags


def feasibility_tags(broken: Mapping[str, float]) -> dict[str, str]:
    """A finished trial's tags under constraints: whether it is feasible and, if not, which
    constraints its last values break."""
    tags = {TAG_FEASIBLE: "false" if broken else "true"}
    if broken:
        tags[TAG_BROKEN] = ",".join(sorted(broken))
    return tags


@dataclass
class TrialRecord:
    name: str
    config: dict[str, Any]
    last_epoch: int | None = None
    last_value: float | None = None
    outcome: Outcome | None = None
    checkpoint: str | None = None  # the latest checkpoint's directory
    last_values: dict[str, float] = field(default_factory=dict)  # every objective's, last epoch
    system_samples: int = 0  # system metrics logged so far: the next sample's step
    retries: int = 0  # restarts after its worker or node died
    exploits: int = 0  # population based training: times it went on from another's checkpoint
    # Population based training: each recorded epoch's metric and hyperparameters, in the order
    # recorded (an exploit goes back or ahead to the source's epoch: that entry names the
    # source), and each exploit as its tag records it.
    schedule: list[dict[str, Any]] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    restarted: bool = False  # restarted, and no result since
    resumed: bool = False  # read back from the store by `tunelab resume`, not yet going on
    run_id: str | None = None  # a trial read back from the store: its run
    seconds_before: float = 0.0  # a resumed trial's time before its driver was lost
    error: str | None = None  # the error its own code raised, reported as its last result
    started: float = field(default_factory=time.time)
    ended: float | None = None

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


@dataclass
class SweepState:
    """What the sweep has seen, by trial id."""

    trials: dict[str, TrialRecord] = field(default_factory=dict)
    stopped_by_budget: set[str] = field(default_factory=set)  # trials the budget stopped
    budget_reached: str | None = None  # which cap, once one is reached
    waiting: int = 0  # trials Ray has created but not started: they wait for resources
    pending_nodes: dict[str, int] = field(default_factory=dict)  # what the autoscaler brings
    stuck: str | None = None  # why the sweep ended with trials that could never start

    def levels(self) -> dict[str, int]:
        """Trials in each state: waiting to start, running, and ended by each outcome."""
        records = list(self.trials.values())
        running = sum(r.outcome is None and not r.resumed for r in records)
        return {"waiting": self.waiting, "running": running, **self.counts()}

    def retries(self) -> int:
        return sum(record.retries for record in list(self.trials.values()))

    def counts(self) -> dict[str, int]:
        """Trials by outcome, every outcome named, in the order of `Outcome`."""
        counts = {o.value: 0 for o in Outcome}
        for record in list(self.trials.values()):  # a snapshot: the metrics thread reads too
            if record.outcome is not None:
                counts[record.outcome.value] += 1
        return counts

    def trial_hours(self) -> float:
        """The trials' time together, in hours (times the resources each holds: CPU-hours)."""
        return sum(record.seconds for record in list(self.trials.values())) / 3600

    @property
    def open(self) -> bool:
        """Whether a trial that started has not ended: the sweep was interrupted. (A resumed
        sweep's trial that Ray did not take up again is not: it ends KILLED with the sweep.)"""
        return any(record.outcome is None and not record.resumed for record in self.trials.values())


def waiting_for(pending_nodes: Mapping[str, int]) -> str:
    """What waiting trials wait for, as the live table says it: "2 nodes: ray.worker.gpu"."""
    if not pending_nodes:
        return "resources"
    total = sum(pending_nodes.values())
    kinds = ", ".join(
        name if len(pending_nodes) == 1 else f"{count} {name}"
        for name, count in sorted(pending_nodes.items())
    )
    return f"{total} node{'s' if total != 1 else ''}: {kinds}"
