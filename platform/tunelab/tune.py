"""The only module that talks to Ray: the trial function, the scheduler, the searcher wiring, the
driver-side callback that feeds tracking and the live view, and Ray's start and stop."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.logger import JsonLoggerCallback
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    TrialScheduler,
)
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from tunelab._system import SYSTEM_KEY
from tunelab._trial import EPOCH_KEY, NODE_KEY, run_trial
from tunelab.data import DataSplits
from tunelab.errors import TunelabError
from tunelab.progress import Board
from tunelab.search import define_by_run, make_sampler
from tunelab.spec import SweepSpec
from tunelab.spec._checks import hyperband_reduction_factor
from tunelab.tracking import (
    RUN_STATUS,
    Outcome,
    TrackingWriter,
    end_tags,
    first_line,
    metrics_of,
    params_of,
    trial_outcome,
    trial_tags,
)
from tunelab.tracking._mapping import TAG_NODE, TAG_NODE_IP


class ClusterError(TunelabError):
    """The Ray cluster cannot run this sweep as specified."""


# -- Ray start and stop ---------------------------------------------------------------------------


def start_ray(address: str | None, *, debug: bool = False) -> bool:
    """Join the cluster at `address`, or start Ray in this process. True if we started it."""
    if ray.is_initialized():
        return False
    log_level = logging.INFO if debug else logging.WARNING
    if address:
        try:
            ray.init(address=address, logging_level=log_level, log_to_driver=debug)
        except Exception as exc:
            raise ClusterError(
                f"cannot join the Ray cluster at {address}: {first_line(str(exc))}"
            ) from None
        return False
    # Workers run in their trial's folder; the working directory stays importable for them, as
    # it is for the driver, so a spec can name a model in the user's own package.
    paths = [str(Path.cwd()), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    ray.init(
        # "local": always a fresh in-process Ray. With no address Ray would join any cluster named
        # in /tmp/ray/ray_current_cluster, and wait forever if that cluster has since died.
        address="local",
        include_dashboard=False,
        logging_level=log_level,
        log_to_driver=debug,
        configure_logging=True,
    )
    return True


class ResourceProblem(ClusterError):
    """A trial's resources that the cluster cannot provide; `path` is the spec key."""

    def __init__(self, path: tuple[str, ...], message: str):
        self.path = path
        super().__init__(message)


def check_resources(spec: SweepSpec) -> int:
    """Fail before anything runs if no node can ever hold one trial. Returns the default
    concurrency: as many trials as the cluster's CPUs (and GPUs) hold at once."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return fit_trials(spec, [(n.get("CPU", 0.0), n.get("GPU", 0.0)) for n in nodes])


def fit_trials(spec: SweepSpec, nodes: list[tuple[float, float]]) -> int:
    """How many trials fit at once on nodes given as (CPUs, GPUs); raises if not even one."""
    want_cpu, want_gpu = spec.resources.cpu, spec.resources.gpu
    total_gpu = sum(gpu for _, gpu in nodes)
    if want_gpu > 0 and total_gpu == 0:
        raise ResourceProblem(
            ("resources", "gpu"), f"{want_gpu:g} GPU per trial requested, but there is no GPU"
        )
    if not any(cpu >= want_cpu and gpu >= want_gpu for cpu, gpu in nodes):
        biggest = max((cpu for cpu, _ in nodes), default=0.0)
        key = "cpu" if want_cpu > biggest else "gpu"
        raise ResourceProblem(
            ("resources", key),
            f"no node can hold one trial ({want_cpu:g} CPU, {want_gpu:g} GPU); the largest node "
            f"has {biggest:g} CPU and there are {total_gpu:g} GPUs in all",
        )
    slots = sum(int(cpu // want_cpu) for cpu, _ in nodes)
    if want_gpu > 0:
        slots = min(slots, sum(int(gpu // want_gpu) for _, gpu in nodes))
    return max(1, slots)


# -- scheduler ------------------------------------------------------------------------------------


def make_scheduler(spec: SweepSpec) -> TrialScheduler:
    s, max_epochs = spec.scheduler, spec.budget.max_epochs
    if s.type == "asha":
        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_epochs,
            grace_period=s.grace_period or 1,
            reduction_factor=s.reduction_factor or 3,
        )
    if s.type == "hyperband":
        return HyperBandScheduler(
            time_attr="training_iteration",
            max_t=max_epochs,
            reduction_factor=hyperband_reduction_factor(spec),
        )
    if s.type == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=s.grace_period or 1, min_samples_required=3
        )
    return FIFOScheduler()


# -- the driver-side callback ---------------------------------------------------------------------


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
    started: float = field(default_factory=time.time)
    ended: float | None = None

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


@dataclass
class SweepState:
    """What the callback has seen, by Ray trial id."""

    trials: dict[str, TrialRecord] = field(default_factory=dict)
    stopped_by_budget: set[str] = field(default_factory=set)  # trials the budget stopped
    budget_reached: str | None = None  # which cap, once one is reached


class TrackingCallback(tune.Callback):
    """Maps Ray's trial events onto tracking calls (which only enqueue) and the live board."""

    def __init__(
        self,
        *,
        spec: SweepSpec,
        sweep: str,
        parent_run_id: str,
        writer: TrackingWriter,
        board: Board | None,
        state: SweepState,
        metric_names: tuple[str, ...],
        keep_model: Callable[[str, str], None] | None = None,
        keep_models: int = 0,
    ) -> None:
        self.spec, self.sweep, self.parent_run_id = spec, sweep, parent_run_id
        self.writer, self.board, self.state = writer, board, state
        self.metric_names = metric_names
        # keep_model(trial_id, checkpoint) logs a trial's model; it is called as soon as a trial
        # finishes among the `keep_models` best so far, so the uploads happen while others train.
        self.keep_model, self.keep_models = keep_model, keep_models

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the Tuner, callbacks included, for `Tuner.restore`. The writer, the board
        # and the model logger are live objects of this process; a restored sweep attaches new
        # ones.
        return {**self.__dict__, "writer": None, "board": None, "keep_model": None}

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        record = self.state.trials.get(trial.trial_id)
        if record is None:
            record = TrialRecord(name=str(trial), config=dict(trial.config))
            self.state.trials[trial.trial_id] = record
            self.writer.start_run(
                trial.trial_id,
                record.name,
                tags=trial_tags(
                    sweep=self.sweep,
                    parent_run_id=self.parent_run_id,
                    trial_id=trial.trial_id,
                    model=self.spec.model.name,
                    dataset=self.spec.dataset.label,
                ),
                params=params_of(trial.config),
            )
        if self.board is not None:
            self.board.started(trial.trial_id, record.name)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        record = self.state.trials[trial.trial_id]
        epoch = int(result.get(EPOCH_KEY, result.get("training_iteration", 0)))
        if record.last_epoch is None:
            self.writer.set_tags(
                trial.trial_id,
                {
                    TAG_NODE: str(result.get(NODE_KEY, "")),
                    TAG_NODE_IP: str(result.get("node_ip", "")),
                },
            )
        record.last_epoch = epoch
        for sample in result.get(SYSTEM_KEY) or []:
            values = {k: float(v) for k, v in sample.items() if k != "t"}
            timestamp = int(sample.get("t", 0)) or None
            self.writer.log(trial.trial_id, record.system_samples, values, timestamp_ms=timestamp)
            record.system_samples += 1
        value = result.get(self.spec.metric)
        record.last_value = float(value) if isinstance(value, int | float) else None
        for metric, _ in self.spec.targets:
            if isinstance(result.get(metric), int | float):
                record.last_values[metric] = float(result[metric])
        self.writer.log(
            trial.trial_id,
            epoch,
            metrics_of(result, self.metric_names),
            timestamp_ms=int(result.get("timestamp", 0)) * 1000 or None,
        )
        if self.board is not None:
            self.board.result(trial.trial_id, epoch, record.last_value)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        record = self.state.trials.get(trial.trial_id)
        if record is None:
            return  # removed before it ever started
        if trial.checkpoint is not None:
            record.checkpoint = trial.checkpoint.path
        outcome = trial_outcome(
            errored=False,
            finished=True,
            last_epoch=record.last_epoch,
            max_epochs=self.spec.budget.max_epochs,
        )
        if outcome is Outcome.STOPPED_EARLY and trial.trial_id in self.state.stopped_by_budget:
            outcome = Outcome.STOPPED_BY_BUDGET
        self._end(trial.trial_id, outcome)
        top = ranked_trials(self.state, self.spec.mode)[: self.keep_models]
        if self.keep_model is not None and record.checkpoint is not None and trial.trial_id in top:
            self.keep_model(trial.trial_id, record.checkpoint)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        if trial.trial_id not in self.state.trials:
            return
        self._end(trial.trial_id, Outcome.FAILED, error=trial_error_line(trial))

    def end_unfinished(self) -> None:
        """Trials still open when the sweep stops (interrupted, or Ray gave up) were killed."""
        for trial_id, record in self.state.trials.items():
            if record.outcome is None:
                self._end(trial_id, Outcome.KILLED)

    def _end(self, trial_id: str, outcome: Outcome, error: str | None = None) -> None:
        record = self.state.trials[trial_id]
        if record.outcome is not None:
            return
        record.outcome = outcome
        record.ended = time.time()
        self.writer.end_run(trial_id, RUN_STATUS[outcome], end_tags(outcome, error))
        if self.board is not None:
            self.board.ended(trial_id, outcome)


def trial_error_line(trial: Trial) -> str:
    """The first line of the exception that ended a trial, without Ray's wrapping; tunelab's own
    errors read as their message (`non_finite_metric: ...`), others as `Type: message`."""
    try:
        error = trial.get_pickled_error()
    except Exception:
        error = None
    if error is not None:
        cause = getattr(error, "cause", None) or error
        if isinstance(cause, TunelabError):
            return first_line(str(cause))
        return first_line(f"{type(cause).__name__}: {cause}")
    error_file = trial.error_file
    if error_file and Path(error_file).exists():
        lines = [
            ln for ln in Path(error_file).read_text(errors="replace").splitlines() if ln.strip()
        ]
        if lines:
            return clean_error_line(lines[-1])
    return "unknown error"


def clean_error_line(line: str) -> str:
    """`tunelab.errors.NonFiniteMetricError: msg` -> `msg`; `pkg.mod.KeyError: msg` -> `KeyError: msg`."""
    qualified, sep, message = line.strip().partition(": ")
    if not sep or " " in qualified:
        return first_line(line)
    if qualified.startswith("tunelab."):
        return first_line(message)
    return first_line(f"{qualified.rsplit('.', 1)[-1]}: {message}")


# -- budgets --------------------------------------------------------------------------------------


class Budget:
    """The spec's caps besides trials (wall time, CPU-hours, GPU-hours, epochs), checked against
    what the sweep has used so far: trial time times the resources each trial holds, and the
    epochs every trial has reported."""

    def __init__(self, spec: SweepSpec, state: SweepState) -> None:
        self.budget, self.resources, self.state = spec.budget, spec.resources, state
        self.started = time.monotonic()
        # Each trial's latest epoch as the stopper sees it: Ray asks the stopper before it tells
        # the callbacks, so the trial records lag by one result.
        self.latest_epoch: dict[str, int] = {}

    def observe(self, trial_id: str, result: dict[str, Any]) -> None:
        self.latest_epoch[trial_id] = int(
            result.get(EPOCH_KEY, result.get("training_iteration", 0))
        )

    def epochs(self) -> dict[str, int]:
        recorded = {t: record.last_epoch or 0 for t, record in self.state.trials.items()}
        return {**recorded, **self.latest_epoch}

    @property
    def capped(self) -> bool:
        b = self.budget
        caps = (b.max_wall_s, b.max_cpu_hours, b.max_gpu_hours, b.max_total_epochs)
        return any(v is not None for v in caps)

    def exhausted(self) -> bool:
        if self.state.budget_reached is None:
            self.state.budget_reached = self._reached()
        return self.state.budget_reached is not None

    def _reached(self) -> str | None:
        b = self.budget
        wall = time.monotonic() - self.started
        if b.max_wall_s is not None and wall >= b.max_wall_s:
            return f"budget.max_wall_s ({b.max_wall_s:g} s)"
        trial_hours = sum(record.seconds for record in self.state.trials.values()) / 3600
        if b.max_cpu_hours is not None and trial_hours * self.resources.cpu >= b.max_cpu_hours:
            return f"budget.max_cpu_hours ({b.max_cpu_hours:g})"
        if b.max_gpu_hours is not None and trial_hours * self.resources.gpu >= b.max_gpu_hours:
            return f"budget.max_gpu_hours ({b.max_gpu_hours:g})"
        epochs = sum(self.epochs().values())
        if b.max_total_epochs is not None and epochs >= b.max_total_epochs:
            return f"budget.max_total_epochs ({b.max_total_epochs})"
        return None


class BudgetStopper(tune.Stopper):
    """Once the budget is spent, each running trial stops at its next report: after the epoch
    it was training, whose checkpoint comes with the report."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.budget.observe(trial_id, result)
        if self.budget.exhausted():
            self.budget.state.stopped_by_budget.add(trial_id)
            return True
        return False

    def stop_all(self) -> bool:
        return False  # running trials finish their epoch; the searcher starts no new one


class BudgetedOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch that suggests no new trial once the budget is spent, and that can tell
    Optuna a trial the scheduler stopped early as pruned rather than complete."""

    def __init__(
        self,
        *args: Any,
        budget: Budget | None = None,
        max_epochs: int | None = None,
        stopped_as_pruned: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.max_epochs, self.stopped_as_pruned = max_epochs, stopped_as_pruned

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        stopped_early = (
            self.stopped_as_pruned
            and not error
            and result is not None
            and self.max_epochs is not None
            and int(result.get("training_iteration", 0)) < self.max_epochs
            and not isinstance(self.metric, list)
            and trial_id not in self._completed_trials
        )
        if not stopped_early:
            super().on_trial_complete(trial_id, result, error)
            return
        # Optuna ranks pruned trials by the last step they reported (Ray reported every epoch).
        from optuna.trial import TrialState

        study = self._ot_study
        assert study is not None  # set up by OptunaSearch before any trial starts
        study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    # Searcher.FINISHED (a string) is how a searcher ends the sweep; Ray's annotation omits it.
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self.budget is not None and self.budget.exhausted():
            return Searcher.FINISHED
        return super().suggest(trial_id)  # type: ignore[no-any-return]


# -- the run --------------------------------------------------------------------------------------


@dataclass
class TuneOutcome:
    best_trial_id: str | None
    interrupted: bool


def run_tune(
    spec: SweepSpec,
    *,
    sweep: str,
    data: DataSplits,
    options: dict[str, Any],
    results_dir: Path,
    concurrency: int,
    callback: TrackingCallback,
    study_storage: Any,
    first_trial: int = 0,
) -> TuneOutcome:
    """Run the trials. `first_trial` numbers the trial names on from an extended sweep's."""
    # Tune's default CSV/JSON/TensorBoard loggers would write every result again; MLflow has them.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # tunelab draws its own live view; Ray's new output engine prints a banner even at verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    trainable = tune.with_parameters(
        run_trial,
        data=data,
        architecture=spec.model.name,
        options=options,
        max_epochs=spec.budget.max_epochs,
        threads=max(1, int(spec.resources.cpu)),
        use_gpu=spec.resources.gpu > 0,
        system_interval_s=spec.system_metrics.interval_s,
    )
    trainable = tune.with_resources(
        trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    )
    metrics = [metric for metric, _ in spec.targets]
    modes = [mode for _, mode in spec.targets]
    budget = Budget(spec, callback.state)
    searcher = BudgetedOptunaSearch(
        space=define_by_run(spec),
        # Several objectives: Optuna searches for the Pareto front; Tune ranks by the first.
        metric=metrics if len(metrics) > 1 else metrics[0],
        mode=modes if len(modes) > 1 else modes[0],
        sampler=make_sampler(spec),
        storage=study_storage,
        study_name=sweep,
        budget=budget if budget.capped else None,
        max_epochs=spec.budget.max_epochs,
        stopped_as_pruned=spec.searcher.stopped_trials == "pruned",
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            search_alg=searcher,
            scheduler=make_scheduler(spec),
            num_samples=spec.budget.trials,
            max_concurrent_trials=concurrency,
            # One worker process serves many trials: no process start and no re-import per trial.
            reuse_actors=True,
            trial_name_creator=functools.partial(trial_name, offset=first_trial),
            trial_dirname_creator=functools.partial(trial_name, offset=first_trial),
        ),
        run_config=tune.RunConfig(
            name=sweep,
            storage_path=str(results_dir),
            # Tuner.fit() builds a ResultGrid from each trial's result.json and warns for every
            # trial without one; tunelab itself reads nothing back from it.
            callbacks=[callback, JsonLoggerCallback()],
            # Every checkpoint is kept: with num_to_keep set, Ray snapshots the whole experiment
            # state at each checkpoint, which costs more than the disk it saves on small models.
            checkpoint_config=tune.CheckpointConfig(),
            stop=BudgetStopper(budget) if budget.capped else None,
            verbose=0,
        ),
    )
    interrupted = False
    try:
        tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C: Ray gives up its graceful stop
        interrupted = True
    # On Ctrl-C Ray Tune stops gracefully and returns as usual; trials it left running tell.
    # (The caller marks them killed.)
    interrupted = interrupted or any(r.outcome is None for r in callback.state.trials.values())
    return TuneOutcome(best_trial(callback.state, spec.mode), interrupted=interrupted)


def ranked_trials(state: SweepState, mode: str) -> list[str]:
    """Finished trials (completed or stopped early) with a metric, best first. A failed trial is
    never ranked, whatever it reported before failing."""
    finished = [
        (trial_id, record.last_value)
        for trial_id, record in state.trials.items()
        if record.outcome in (Outcome.COMPLETED, Outcome.STOPPED_EARLY, Outcome.STOPPED_BY_BUDGET)
        and record.last_value is not None
    ]
    finished.sort(key=lambda item: item[1] if mode == "min" else -item[1])  # type: ignore[operator]
    return [trial_id for trial_id, _ in finished]


def pareto_front(state: SweepState, targets: list[tuple[str, str]]) -> list[str]:
    """Finished trials that no other finished trial beats on every objective (and strictly on
    one), in the order of the first objective."""
    ranked = ranked_trials(state, targets[0][1])
    scores = {}
    for trial_id in ranked:
        values = state.trials[trial_id].last_values
        if all(metric in values for metric, _ in targets):
            # Minimise everything: negate what is maximised.
            scores[trial_id] = [
                -values[metric] if mode == "max" else values[metric] for metric, mode in targets
            ]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return [
        trial_id
        for trial_id, score in scores.items()
        if not any(dominates(other, score) for o, other in scores.items() if o != trial_id)
    ]


def best_trial(state: SweepState, mode: str) -> str | None:
    """The best ranked trial that left a checkpoint."""
    return next(
        (t for t in ranked_trials(state, mode) if state.trials[t].checkpoint is not None), None
    )


def trial_name(trial: Trial, offset: int = 0) -> str:
    """trial-000, trial-001, ... in the order the searcher created them, which is also the Optuna
    trial number (and the offset of the trial's seed), except after a warm start, whose imported
    trials come first in the study. Also the trial's folder name."""
    counter = trial.experiment_tag.split("_", 1)[0]
    if not counter.isdigit():
        return f"trial-{trial.trial_id}"
    return f"trial-{int(counter) - 1 + offset:03d}"


def shutdown_ray() -> None:
    ray.shutdown()


def optuna_journal(path: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))
