"""What a sweep returns: its name and parent run, the counts by outcome, the best trial, and
every trial as a row (a pandas DataFrame on request)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.tracking import SpoolState

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class SweepResult:
    sweep: str
    experiment: str
    experiment_id: str
    tracking_uri: str
    parent_run_id: str
    counts: dict[str, int]  # trials by outcome: completed, stopped_early, ...
    best: dict[str, Any] | None  # {"trial", "metric", "config", "run_id"}; None: none finished
    wall_s: float
    results_dir: str
    metric: str = ""
    mode: str = "max"  # whether the best `metric` is the highest or the lowest
    interrupted: bool = False
    terminated: bool = False  # stopped by SIGTERM (a preemption), not Ctrl-C
    failed_writes: list[str] = field(default_factory=list)
    pending_writes: SpoolState | None = None  # kept on disk: the store stayed unreachable
    budget_reached: str | None = None  # the cap that ended the sweep, if one did
    stuck: str | None = None  # its trials waited for resources past budget.pending_timeout_s
    trial_rows: list[dict[str, Any]] = field(default_factory=list)
    view: str | None = None  # the key of its view saved for MLflow's UI (see tracking.sweep_page)

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: `trial`, `outcome`, `epochs`, the metric, `seconds`, `run_id`,
        then the trial's config, one column per hyperparameter; in the order trials started."""
        import pandas as pd

        return pd.DataFrame(self.trial_rows)

    def as_json(self) -> dict[str, Any]:
        """The summary the command prints as its last line with --json."""
        return {
            "sweep": self.sweep,
            "parent_run_id": self.parent_run_id,
            "trials": self.counts,
            "best": self.best,
            "wall_s": round(self.wall_s, 3),
            "budget_reached": self.budget_reached,
            "stuck": self.stuck,
        }
