"""What stops trials besides the scheduler: the sweep's budget, asked after each result, and a
constraint broken on a metric training does not change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ray import tune

from tunelab.backend._callback import epoch_of
from tunelab.backend._live import live
from tunelab.spec import Bound, violations

if TYPE_CHECKING:
    pass


class BudgetStopper(tune.Stopper):
    """Once the budget is spent, each running trial stops at its next report: after the epoch
    it was training, whose checkpoint comes with the report. A trial that does not report in
    time is stopped where it is once `max_wall_s` is overrun (see Budget.overrun)."""

    def __init__(self, sweep: str) -> None:
        self.sweep = sweep  # pickled with the experiment: only the name (see _live)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        groups = live(self.sweep).groups
        if groups is not None and groups.is_group(trial_id):
            return False  # its members, each (see _fusion.MemberScheduler)
        epoch_s = float(result.get("time_this_iter_s") or 0.0)
        return live(self.sweep).budget.stop_after(trial_id, epoch_of(result), epoch_s)

    def stop_all(self) -> bool:
        # Asked by Ray many times a second, results or not: running trials finish their epoch
        # and the searcher starts no new one, unless the wall-time cap is overrun.
        budget = live(self.sweep).budget
        return budget.overrun() or budget.stuck()


class ConstraintStopper(tune.Stopper):
    """Stops a trial at the first report whose size or speed (a metric its training does not
    change: `param_count`, `latency_ms`) breaks one of the spec's constraints on it: no later
    epoch can make it feasible. A fused sweep's group trials are left to the member scheduler,
    which judges each member (a group's result carries its first member's values only)."""

    def __init__(self, fixed: Mapping[str, Bound], sweep: str | None = None) -> None:
        self.fixed = dict(fixed)
        self.sweep = sweep  # pickled with the experiment: only the name (see _live)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        groups = live(self.sweep).groups if self.sweep is not None else None
        if groups is not None and groups.is_group(trial_id):
            return False  # its members, each (see _fusion.MemberScheduler)
        values = {m: result[m] for m in self.fixed if isinstance(result.get(m), int | float)}
        return bool(values) and bool(violations({m: self.fixed[m] for m in values}, values))

    def stop_all(self) -> bool:
        return False
