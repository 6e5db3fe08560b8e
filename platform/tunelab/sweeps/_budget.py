"""Budget caps besides the number of trials: wall time, CPU-hours, GPU-hours and epochs, checked
against what the sweep has used so far. Plain logic; the backend asks it after each result."""

from __future__ import annotations

import time

from tunelab.spec import SweepSpec
from tunelab.sweeps._state import SweepState, waiting_for


class Budget:
    """The spec's caps, against the sweep's use: trial time times the resources each trial
    holds, and the epochs every trial has reported."""

    def __init__(self, spec: SweepSpec, state: SweepState, spent_wall_s: float = 0.0) -> None:
        """`spent_wall_s`: wall time a resumed sweep had already run."""
        self.budget, self.state = spec.budget, state
        # What one trial holds; a member of a fused group holds its share of the group's.
        share = 1 / spec.fusion.members if spec.fusion is not None else 1.0
        self.cpu, self.gpu = spec.resources.trial_cpu * share, spec.resources.trial_gpu * share
        self.started = time.monotonic() - spent_wall_s
        # Each trial's latest epoch as the backend reports it here: Ray asks the stopper before
        # it tells the callbacks, so the trial records lag by one result.
        self.latest_epoch: dict[str, int] = {}
        self.longest_epoch_s = 0.0  # the slowest epoch any trial has taken so far
        self.overran = False  # the wall-time cap stopped running trials where they were
        self.waiting_since: float | None = None  # trials wait and none runs, since then

    def overrun(self) -> bool:
        """`max_wall_s` holds even when no trial reports: once the cap is past by the time of
        the slowest epoch seen so far (what a running trial gets to end the one it trains),
        every trial still running is stopped where it is, keeping its last checkpoint."""
        cap = self.budget.max_wall_s
        if cap is None or time.monotonic() - self.started < cap + self.longest_epoch_s:
            return False
        if not self.overran:
            self.overran = True
            self.exhausted()
            for trial_id, record in self.state.trials.items():
                if record.outcome is None:
                    self.state.stopped_by_budget.add(trial_id)
        return True

    def stuck(self) -> bool:
        """Whether trials have waited `pending_timeout_s` for resources while none ran: the
        sweep ends, saying what they waited for (`state.stuck`)."""
        timeout = self.budget.pending_timeout_s
        if timeout is None:
            return False
        now = time.monotonic()
        if self.state.waiting == 0 or self.state.levels()["running"] > 0:
            self.waiting_since = None
            return False
        if self.waiting_since is None:
            self.waiting_since = now
        if now - self.waiting_since < timeout:
            return False
        if self.state.stuck is None:
            waited = waiting_for(self.state.pending_nodes)
            self.state.stuck = (
                f"{self.state.waiting} trial(s) waited {timeout:g} s for {waited} with none "
                "running (budget.pending_timeout_s): the cluster could not hold them"
            )
        return True

    @property
    def capped(self) -> bool:
        b = self.budget
        caps = (b.max_wall_s, b.max_cpu_hours, b.max_gpu_hours, b.max_total_epochs)
        return any(v is not None for v in caps)

    def stop_after(self, trial_id: str, epoch: int, epoch_s: float = 0.0) -> bool:
        """A trial has reported `epoch`, which took it `epoch_s`: whether it stops now, after
        that epoch (whose checkpoint came with the report), because the budget is spent."""
        self.latest_epoch[trial_id] = epoch
        self.longest_epoch_s = max(self.longest_epoch_s, epoch_s)
        if self.exhausted():
            self.state.stopped_by_budget.add(trial_id)
            return True
        return False

    def exhausted(self) -> bool:
        """Whether a cap is reached; once one is, it stays reached (no new trial starts)."""
        if self.state.budget_reached is None:
            self.state.budget_reached = self._reached()
        return self.state.budget_reached is not None

    def epochs(self) -> dict[str, int]:
        recorded = {t: record.last_epoch or 0 for t, record in list(self.state.trials.items())}
        return {**recorded, **dict(self.latest_epoch)}

    def spent(self) -> dict[str, float]:
        """What the sweep has used so far, by resource (the names of `caps`)."""
        trial_hours = self.state.trial_hours()
        return {
            "trials": float(len(self.state.trials)),
            "wall_seconds": time.monotonic() - self.started,
            "cpu_hours": trial_hours * self.cpu,
            "gpu_hours": trial_hours * self.gpu,
            "epochs": float(sum(self.epochs().values())),
        }

    def caps(self) -> dict[str, float]:
        """The spec's caps, by resource: only those it sets (the number of trials always)."""
        b = self.budget
        caps = {
            "trials": b.trials,
            "wall_seconds": b.max_wall_s,
            "cpu_hours": b.max_cpu_hours,
            "gpu_hours": b.max_gpu_hours,
            "epochs": b.max_total_epochs,
        }
        return {name: float(cap) for name, cap in caps.items() if cap is not None}

    def _reached(self) -> str | None:
        b = self.budget
        wall = time.monotonic() - self.started
        if b.max_wall_s is not None and wall >= b.max_wall_s:
            return f"budget.max_wall_s ({b.max_wall_s:g} s)"
        trial_hours = self.state.trial_hours()
        if b.max_cpu_hours is not None and trial_hours * self.cpu >= b.max_cpu_hours:
            return f"budget.max_cpu_hours ({b.max_cpu_hours:g})"
        if b.max_gpu_hours is not None and trial_hours * self.gpu >= b.max_gpu_hours:
            return f"budget.max_gpu_hours ({b.max_gpu_hours:g})"
        epochs = sum(self.epochs().values())
        if b.max_total_epochs is not None and epochs >= b.max_total_epochs:
            return f"budget.max_total_epochs ({b.max_total_epochs})"
        return None
