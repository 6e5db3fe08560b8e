"""The live view of a sweep: a table of trials and a progress bar with ETA (rich). It only draws
what the sweep tells it; the sweep decides what is best."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

MAX_ROWS = 14
STATE_STYLE = {
    "running": "cyan",
    "completed": "green",
    "stopped_early": "yellow",
    "stopped_by_budget": "yellow",
    "failed": "red",
    "killed": "magenta",
}


@dataclass
class TrialRow:
    name: str
    state: str = "running"
    epoch: int = 0
    value: float | None = None
    retries: int = 0
    broken: tuple[str, ...] = ()  # the constraints it ended outside of


class Board:
    """What the sweep has done so far. Updated by the driver's callback, drawn by rich."""

    def __init__(self, *, sweep: str, trials: int, max_epochs: int, metric: str):
        self.sweep, self.metric, self.max_epochs = sweep, metric, max_epochs
        self.rows: dict[str, TrialRow] = {}
        self.best: float | None = None
        self.waiting_line = ""  # "3 trials waiting for 2 nodes: ray.worker.gpu"
        self._lock = threading.Lock()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self._task = self.progress.add_task(sweep, total=trials)

    def started(self, trial_id: str, name: str) -> None:
        with self._lock:
            row = self.rows.setdefault(trial_id, TrialRow(name))
            row.state = "running"

    def result(self, trial_id: str, epoch: int, value: float | None) -> None:
        """A trial's latest epoch and metric."""
        with self._lock:
            row = self.rows.get(trial_id)
            if row is None:
                return
            row.epoch, row.value = epoch, value

    def retried(self, trial_id: str, attempt: int) -> None:
        """Its worker or node died; it restarts from its last checkpoint."""
        with self._lock:
            row = self.rows.get(trial_id)
            if row is not None:
                row.retries = attempt

    def ended(
        self, trial_id: str, outcome: str, best: float | None, broken: tuple[str, ...] = ()
    ) -> None:
        """A trial ended (outside the constraints `broken`), and the sweep's best trial's
        metric now: the value of its last epoch, whose checkpoint is its model."""
        with self._lock:
            self.best = best
            row = self.rows.get(trial_id)
            if row is not None and row.state == "running":
                row.state, row.broken = outcome, broken
                self.progress.advance(self._task)

    def waiting(self, count: int, waiting_for: str) -> None:
        """How many trials wait to start, and for what (nodes the autoscaler brings)."""
        with self._lock:
            trials = f"{count} trial{'s' if count != 1 else ''}"
            self.waiting_line = f"{trials} waiting for {waiting_for}" if count else ""

    def __rich__(self) -> RenderableType:
        with self._lock:
            table = Table(title=f"sweep {self.sweep}", title_justify="left", expand=False)
            for column in ("trial", "state", "epoch", self.metric, f"best {self.metric}"):
                table.add_column(column, justify="right" if column != "trial" else "left")
            rows = sorted(self.rows.values(), key=lambda r: (r.state != "running", r.name))
            for row in rows[:MAX_ROWS]:
                table.add_row(
                    row.name,
                    f"[{STATE_STYLE.get(row.state, '')}]{row.state}"
                    + (f" (retry {row.retries})" if row.retries else "")
                    + (f" [red]infeasible: {', '.join(row.broken)}" if row.broken else ""),
                    f"{row.epoch}/{self.max_epochs}",
                    _fmt(row.value),
                    _fmt(self.best),
                )
            if len(rows) > MAX_ROWS:
                table.caption = f"... and {len(rows) - MAX_ROWS} more"
            if self.waiting_line:
                return Group(table, Text(self.waiting_line, style="yellow"), self.progress)
            return Group(table, self.progress)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
