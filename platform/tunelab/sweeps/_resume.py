"""Resuming a sweep whose driver stopped (SIGKILL, SIGTERM, a lost machine, Ctrl-C), from what
outlives the driver and is written as it happens: the runs in MLflow (which trials ended, each
open trial's last recorded epoch), the Optuna study in its storage (each open trial's own
trial, still RUNNING) and each trial's checkpoints in the results folder. (Ray Tune's own
experiment state is saved every ten seconds or so, and would forget the trials of the last
few.) Every trial that had not ended goes on, first, in its own child run and Optuna trial,
from the checkpoint of its last recorded epoch; new trials fill the budget; trials that ended
are untouched; the parent run is the same."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab import tracking
from tunelab.backend import Continued, EarlierResults
from tunelab.errors import TunelabError
from tunelab.search import SEED_KEY
from tunelab.spec import LoadedSpec
from tunelab.sweeps._extend import EarlierTrial, recorded_trials
from tunelab.sweeps._listing import stopped_sweep
from tunelab.sweeps._state import Outcome
from tunelab.sweeps._stores import Stores

RESUMED_PARAM = "resumed_{number}_at"


@dataclass(frozen=True)
class Resumption:
    sweep: str
    parent_run_id: str
    number: int  # 1 for a sweep's first resume
    trials: list[EarlierTrial] = field(default_factory=list)  # every trial it recorded
    spent_wall_s: float = 0.0  # the wall time its trials had run, from the summary so far
    seed: int = 0  # the sweep's seed: a trial's seed minus it is its Optuna trial's number
    study_trials: int = 0  # trials in its Optuna study, once `settled`
    # Optuna trials its driver asked for and lost before their runs were recorded, once
    # `settled`: the first new trials take them, so each trial's number and seed stay its name's.
    asked: tuple[int, ...] = ()
    max_epochs: int = 0
    # By trial name: its objectives' and constraints' values at each epoch, for ASHA's rungs.
    epochs: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)

    def number_of(self, trial: EarlierTrial) -> int:
        """The trial's Optuna trial: its seed is the sweep's seed plus that trial's number."""
        return int(trial.config.get(SEED_KEY, self.seed)) - self.seed

    def earlier_results(self) -> list[EarlierResults]:
        """Every trial as ASHA had seen it (those that go on, marked so)."""
        going_on = {t.name for t in self.going_on()}
        return [
            EarlierResults(
                t.name, self.number_of(t), self.epochs.get(t.name, {}), t.name in going_on
            )
            for t in self.trials
        ]

    def going_on(self) -> list[EarlierTrial]:
        """The trials that had not ended (or were stopped by Ctrl-C): they go on first."""
        return [t for t in self.trials if t.outcome in (None, Outcome.KILLED)]

    def settled(self, states: dict[int, str]) -> Resumption:
        """This resumption against the study's trial states. A trial whose run did not record
        its end, but whose Optuna trial did (the driver was lost between the two), ended: its
        outcome is Optuna's, and it does not go on. An Optuna trial still RUNNING that no run
        recorded was asked for by the lost driver before its trial's run was created: it is
        `asked`, for a new trial to take."""
        trials = []
        for trial in self.trials:
            state = states.get(self.number_of(trial), "RUNNING")
            if trial.outcome is None and state != "RUNNING":
                ended = trial.last_epoch is not None and trial.last_epoch >= self.max_epochs
                outcome = {
                    "COMPLETE": Outcome.COMPLETED if ended else Outcome.STOPPED_EARLY,
                    "PRUNED": Outcome.STOPPED_EARLY,
                }.get(state, Outcome.FAILED)
                trial = dataclasses.replace(trial, outcome=outcome, settled=True)
            trials.append(trial)
        recorded = {self.number_of(trial) for trial in self.trials}
        asked = tuple(
            n for n, state in sorted(states.items()) if state == "RUNNING" and n not in recorded
        )
        return dataclasses.replace(self, trials=trials, study_trials=len(states), asked=asked)

    def new_trials(self, budget_trials: int) -> int:
        """How many new trials fill the budget (every trial recorded counts)."""
        return max(0, budget_trials - len(self.trials))

    def continued(self, folder: Path) -> list[Continued]:
        """The trials that go on, each with its Optuna trial, its config and the folder of its
        checkpoints; each time one goes on, it writes to a new folder of its own."""
        return [
            Continued(
                number=self.number_of(t),
                config=t.config,
                name=t.name,
                folder=str(folder / t.name),
                epoch=t.last_epoch or 0,
                going_on=1 + len(list(folder.glob(f"{t.name}.*"))),
            )
            for t in self.going_on()
        ]

    def to_run(self, budget_trials: int) -> int:
        """Trials for Ray to run: those that go on, and new ones to fill the budget."""
        return len(self.going_on()) + self.new_trials(budget_trials)


def prepare_resume(sweep: str, stores: Stores) -> tuple[LoadedSpec, Resumption] | None:
    """The recorded spec and trials of an interrupted sweep; None for a finished one. A sweep
    whose heartbeat is fresh is waited on until it goes stale (its driver was stopped a moment
    ago), and refused if it is renewed meanwhile (it runs somewhere). What its driver kept on
    disk for the store is sent first."""
    client = tracking.client(stores.tracking_uri)
    stores.send_kept_writes(sweep)
    parent = stopped_sweep(client, sweep, "resume", wait=True)
    if parent is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tunelab-resume-") as folder:
        loaded = tracking.sweep_spec(
            client,
            parent,
            Path(folder),
            {"--name": sweep},
            missing=f"resume: sweep {sweep!r} recorded no spec",
        )
        try:
            summary = tracking.sweep_summary(client, parent, Path(folder))
        except TunelabError:
            summary = {}  # killed before any trial ended
    number = 1 + sum(1 for key in parent.data.params if key.startswith("resumed_"))
    trials = [
        recovered(client, trial, stores.folder(sweep) / trial.name, loaded)
        if trial.outcome in (None, Outcome.KILLED)
        else trial
        for trial in recorded_trials(client, parent, loaded)
    ]
    # ASHA's rungs held each trial's results: they are read back, so a rung judges the trials
    # to come against every trial, as it would have.
    asha = loaded.spec.scheduler.type == "asha"
    return loaded, Resumption(
        sweep=sweep,
        parent_run_id=parent.info.run_id,
        number=number,
        trials=trials,
        spent_wall_s=float(summary.get("wall_s", 0.0)),
        seed=loaded.spec.seed,
        max_epochs=loaded.spec.budget.max_epochs,
        epochs={
            t.name: tracking.by_epoch(client, t.run_id, loaded.spec.kept_metrics)
            for t in (trials if asha else [])
        },
    )


def recovered(client: Any, trial: EarlierTrial, folder: Path, loaded: LoadedSpec) -> EarlierTrial:
    """A trial that goes on, with the epochs its driver got but died before recording (Ray
    logged them in the trial's folder) recorded now, up to its latest kept checkpoint: it
    goes on from that checkpoint, and no epoch is trained twice or missing."""
    from tunelab import backend

    results = backend.reported(folder)
    upto = max((r.epoch for r in results if r.checkpoint is not None), default=0)
    missing = [r for r in results if (trial.last_epoch or 0) < r.epoch <= upto]
    if not missing:
        return trial
    recorded = tracking.get_run(client, trial.run_id).data.metrics
    names = tuple(k for k in recorded if not k.startswith("system/")) or tuple(
        metric for metric, _ in loaded.spec.targets
    )
    points = [
        (name, value, r.timestamp_ms or 0, r.epoch)
        for r in missing
        for name, value in tracking.metrics_of(r.values, names).items()
    ]
    tracking.log_points(client, trial.run_id, points)
    last = tracking.metrics_of(missing[-1].values, names)
    return dataclasses.replace(
        trial,
        last_epoch=upto,
        last_value=last.get(loaded.spec.metric, trial.last_value),
        last_values={
            **trial.last_values,
            **{m: last[m] for m in loaded.spec.kept_metrics if m in last},
        },
    )


def resume_params(resumption: Resumption) -> dict[str, str]:
    """The parent run's new param: when this resume started (params are never rewritten)."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {RESUMED_PARAM.format(number=resumption.number): at}
