"""A sweep's trials, run by Ray Tune: the trainable with its data in Ray's object store, the
Optuna searcher and the scheduler, the budget's stopper, and the callback that forwards every
trial event to the sweep."""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.experiment import Trial
from ray.tune.logger import JsonLoggerCallback

from tunelab import env
from tunelab.backend._callback import ForwardingCallback
from tunelab.backend._events import (
    FUSION_KEY,
    RESUME_KEY,
    Budget,
    Continued,
    EarlierResults,
    RunEnd,
    TrialEvents,
)
from tunelab.backend._fusion import GroupCallback, MemberScheduler
from tunelab.backend._groups import Groups
from tunelab.backend._live import attached
from tunelab.backend._parallel import WorkersCallback
from tunelab.backend._retention import RetentionCallback
from tunelab.backend._schedulers import make_scheduler
from tunelab.backend._searcher import BudgetedOptunaSearch
from tunelab.backend._stoppers import BudgetStopper, ConstraintStopper
from tunelab.backend._trial import run_trial
from tunelab.data import DataSplits
from tunelab.errors import Terminated
from tunelab.models import Architecture
from tunelab.search import define_by_run, make_sampler
from tunelab.spec import Bound, SweepSpec, population_interval, population_parameters
from tunelab.training import COST_METRICS, TrialSetup, trainer_of, untrained_metrics


def run_trials(
    spec: SweepSpec,
    *,
    sweep: str,
    data: DataSplits,
    architecture: Architecture,
    options: dict[str, Any],
    results_dir: Path,
    concurrency: int,
    events: TrialEvents,
    budget: Budget,
    study_storage: Any,
    first_trial: int = 0,
    continued: list[Continued] | None = None,
    earlier: list[EarlierResults] | None = None,
    sampler_seed: int | None = None,
    asked: Sequence[int] = (),
) -> RunEnd:
    """Run the sweep's trials, telling `events` what happens to each. `first_trial` numbers
    the trial names on from an extended or resumed sweep's. `continued` are a resumed sweep's
    trials that had not ended: they run first, each with its Optuna trial, its config and its
    name, from its last checkpoint; `earlier`, every trial of a resumed sweep as ASHA had seen
    it; `asked`, the Optuna trials its lost driver had asked for but not recorded, which the
    first new trials take. After Ctrl-C or SIGTERM, Ray stops gracefully and returns
    as usual; the trials it left running never end.

    Long on purpose: Ray Tune's Tuner is one declaration of every part (searcher, scheduler,
    trainable, callbacks, stopper, retries), each built by its own function, here side by side."""
    continued = continued or []
    env.apply_library_defaults(
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS",
        "RAY_AIR_NEW_OUTPUT",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S",
    )
    searcher = _searcher(spec, sweep, study_storage, concurrency, continued, asked, sampler_seed)
    groups = None
    scheduler = make_scheduler(
        spec,
        sweep,
        architecture.trainer,
        untrained_metrics(data) if trainer_of(architecture.trainer).untrained_level else None,
        concurrency,
        earlier or [],
    )
    if spec.fusion is not None:  # a Ray Tune trial per fused group of K trials (see _fusion)
        groups = Groups(
            sweep,
            size=spec.fusion.members,
            trials=spec.budget.trials - len(continued),
            first_trial=first_trial,
        )
        fixed = fixed_constraints(spec)
        scheduler = MemberScheduler(scheduler, sweep, ConstraintStopper(fixed) if fixed else None)
    tuner = tune.Tuner(
        _trainable(spec, data, architecture, options),
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=spec.budget.trials,
            max_concurrent_trials=concurrency,
            # One worker process serves many trials: no process start and no re-import per trial;
            # unless trials can time out: a hung trial's thread ends only with its process; or
            # train on workers of their own, which end with the process that started them.
            reuse_actors=spec.budget.trial_timeout_s is None and spec.resources.workers == 1,
            trial_name_creator=functools.partial(
                trial_name, offset=first_trial, continued=len(continued)
            ),
            trial_dirname_creator=functools.partial(
                trial_dirname, offset=first_trial, continued=len(continued)
            ),
        ),
        run_config=tune.RunConfig(
            name=sweep,
            storage_path=str(results_dir),
            callbacks=_callbacks(spec, sweep, fused=groups is not None),
            stop=stopper(spec, sweep, budget),
            # A trial whose worker or node dies restarts from its last checkpoint, on any node.
            failure_config=tune.FailureConfig(max_failures=spec.failure.max_retries),
            verbose=0,
        ),
    )
    try:
        end = _fit(tuner, sweep, events, budget, groups)
    finally:
        if groups is not None:
            groups.shutdown()  # its trainers go with the run
    if budget.overran and not end.terminated:
        searcher.prune_unfinished()  # Ray stopped them with the experiment, telling no searcher
    return end


def _searcher(
    spec: SweepSpec,
    sweep: str,
    study_storage: Any,
    concurrency: int,
    continued: list[Continued],
    asked: Sequence[int],
    sampler_seed: int | None,
) -> BudgetedOptunaSearch:
    """Optuna's search for Ray Tune, in the sweep's study (see _searcher)."""
    metrics = [metric for metric, _ in spec.targets]
    modes = [mode for _, mode in spec.targets]
    return BudgetedOptunaSearch(
        space=define_by_run(spec),
        # Several objectives: Optuna searches for the Pareto front; Tune ranks by the first.
        metric=metrics if len(metrics) > 1 else metrics[0],
        mode=modes if len(modes) > 1 else modes[0],
        sampler=make_sampler(spec, sampler_seed),
        storage=study_storage,
        study_name=sweep,
        sweep=sweep,
        max_epochs=spec.budget.max_epochs,
        stopped_as_pruned=spec.searcher.stopped_trials == "pruned",
        continued=continued,
        asked=asked,
        in_order=(
            (concurrency, spec.budget.trials - len(continued))
            if spec.searcher.reproducible
            else None
        ),
        constraints=spec.constraints,
    )


def _callbacks(spec: SweepSpec, sweep: str, *, fused: bool) -> list[tune.Callback]:
    """What Ray Tune tells of each trial: the sweep (one callback per trial, or per fused
    group), result.json in each trial's folder, the data-parallel workers' release, and the
    checkpoints' retention."""
    callbacks: list[tune.Callback] = [
        GroupCallback(sweep) if fused else ForwardingCallback(sweep),
        # Tuner.fit() builds a ResultGrid from each trial's result.json and warns for every
        # trial without one; tunelab itself reads nothing back from it.
        JsonLoggerCallback(),
    ]
    if spec.resources.workers > 1:
        callbacks.append(WorkersCallback())
    # A fused group's members keep every checkpoint (in their own folders).
    if spec.checkpoints.keep is not None and not fused:
        # The best `keep` by the metric, and the latest (see _retention: not Ray's
        # CheckpointConfig(num_to_keep), which snapshots the experiment each time).
        callbacks.append(
            RetentionCallback(
                sweep,
                spec.checkpoints.keep,
                spec.metric,
                spec.mode,
                # what PBT hands an exploiting trial: a perturbation epoch's
                pin_every=population_interval(spec) if spec.scheduler.population_based else None,
            )
        )
    return callbacks


def _trainable(
    spec: SweepSpec, data: DataSplits, architecture: Architecture, options: dict[str, Any]
) -> Any:
    """What every trial runs, with the data put in Ray's object store once."""
    setup = TrialSetup(
        data=data,
        architecture=architecture,
        max_epochs=spec.budget.max_epochs,
        options=options,
        threads=max(1, int(spec.resources.cpu)),
        use_gpu=spec.resources.gpu > 0,
        workers=spec.resources.workers,
        worker_cpu=spec.resources.cpu,
        worker_gpu=spec.resources.gpu,
        targets=tuple(metric for metric, _ in spec.targets),
        scheduled=(
            tuple(population_parameters(spec, architecture.trainer))
            if spec.scheduler.population_based
            else ()
        ),
        system_interval_s=spec.system_metrics.interval_s,
        timeout_s=spec.budget.trial_timeout_s,
    )
    trainable = tune.with_parameters(run_trial, setup=setup)
    if spec.resources.workers > 1:
        # Ray Train places the workers, which hold the resources; the trial's own process holds
        # a byte of memory (Ray Tune runs no trial that holds nothing), so that the workers can
        # have every CPU.
        return tune.with_resources(trainable, tune.PlacementGroupFactory([{"memory": 1}]))
    return tune.with_resources(trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


def _fit(
    tuner: tune.Tuner, sweep: str, events: TrialEvents, budget: Budget, groups: Groups | None
) -> RunEnd:
    with attached(sweep, events, budget, groups), _sigterm_stops_gracefully() as terminated:
        try:
            tuner.fit()
        except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: Ray gives up its graceful stop
            return RunEnd(gave_up=True, terminated=terminated.is_set())
    return RunEnd(terminated=terminated.is_set())


@contextlib.contextmanager
def _sigterm_stops_gracefully() -> Iterator[threading.Event]:
    """SIGTERM (a preempted node, `kill`) asks Ray Tune for the graceful stop Ctrl-C gets (Ray
    also takes SIGUSR1 for it): running trials stop, their runs are marked. A second one gives
    up, as a second Ctrl-C does."""
    received = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals reach the main thread only
        return

    def stop(signum: int, frame: Any) -> None:
        if received.is_set():
            raise Terminated()
        received.set()
        signal.raise_signal(signal.SIGUSR1)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def trial_name(trial: Trial, offset: int = 0, continued: int = 0) -> str:
    """trial-000, trial-001, ... in the order the searcher created them, which is also the Optuna
    trial number (and the offset of the trial's seed), except after a warm start, whose imported
    trials come first in the study. A resumed sweep's trial that goes on keeps its name; the
    `continued` trials come first, and the new ones are numbered on from `offset`."""
    resumed = trial.config.get(RESUME_KEY)
    if resumed is not None:
        return str(resumed["name"])
    group = trial.config.get(FUSION_KEY)
    if group is not None:
        return str(group["group"])
    counter = trial.experiment_tag.split("_", 1)[0]
    if not counter.isdigit():
        return f"trial-{trial.trial_id}"
    return f"trial-{int(counter) - 1 - continued + offset:03d}"


def trial_dirname(trial: Trial, offset: int = 0, continued: int = 0) -> str:
    """The trial's folder: its name; for a resumed trial, a folder of its own each time it
    goes on (NAME.1, NAME.2, ...), so that no checkpoint of before is overwritten."""
    resumed = trial.config.get(RESUME_KEY)
    if resumed is not None:
        return f"{resumed['name']}.{resumed['going_on']}"
    return trial_name(trial, offset, continued)


def fixed_constraints(spec: SweepSpec) -> dict[str, Bound]:
    """The spec's constraints on metrics training does not change (size, latency)."""
    return {m: b for m, b in spec.constraints.items() if m in COST_METRICS}


def stopper(spec: SweepSpec, sweep: str, budget: Budget) -> tune.Stopper | None:
    """What stops trials besides the scheduler: the budget, once spent, and a constraint broken
    on a metric training does not change. (In a fused sweep both skip the group trials: the
    member scheduler stops each member, see _fusion.)"""
    from ray.tune.stopper import CombinedStopper

    fixed = fixed_constraints(spec)
    stoppers: list[tune.Stopper] = [BudgetStopper(sweep)] if budget.capped else []
    if fixed:
        stoppers.append(ConstraintStopper(fixed, sweep))
    if len(stoppers) > 1:
        return CombinedStopper(*stoppers)
    return stoppers[0] if stoppers else None
