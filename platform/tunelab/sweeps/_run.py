"""A sweep from start to end, as a list of steps: plan it, join or start Ray, check everything
it names, open its study and its runs, run the trials, record the outcome."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.search import WarmStart
from tunelab.spec import LoadedSpec, SweepSpec, population_parameters
from tunelab.sweeps._budget import Budget
from tunelab.sweeps._extend import Extension, extension_params
from tunelab.sweeps._fusion import pick_fusion
from tunelab.sweeps._heartbeat import Heartbeat
from tunelab.sweeps._metrics import LevelPublisher
from tunelab.sweeps._plan import (
    MODEL_TEMPLATE_FOLDER,
    Plan,
    concurrency,
    local_resources,
    make_plan,
)
from tunelab.sweeps._preflight import Prepared, prepare
from tunelab.sweeps._ranking import TOP_TRIALS
from tunelab.sweeps._record import record_sweep, summary_writer, sweep_params, warm_start_params
from tunelab.sweeps._recorder import SweepRecorder, resumed_key
from tunelab.sweeps._result import SweepResult
from tunelab.sweeps._resume import Resumption, resume_params
from tunelab.sweeps._state import RUN_STATUS, SweepState, TrialRecord, end_tags
from tunelab.sweeps._stores import Stores
from tunelab.tracking import ModelTemplate, TrackingWriter, spec_writer, sweep_tags
from tunelab.training import trainer_of
from tunelab.views import ViewsProcess

if TYPE_CHECKING:
    from tunelab.views import Board

EXAMPLE_INPUTS = 2  # validation examples saved as the model's input example


def run_sweep(
    loaded: LoadedSpec,
    *,
    stores: Stores,
    live: bool = True,
    debug: bool = False,
    warm_start: str | None = None,
    extend: Extension | None = None,
    resume: Resumption | None = None,
) -> SweepResult:
    """Run the sweep. `warm_start` names an earlier sweep (in the same results folder, or the
    same database in server mode) whose finished trials seed the search. `extend` runs more
    trials of a finished sweep, in its parent run and its study (see `prepare_extension`);
    `resume` continues an interrupted one from where it was (see `prepare_resume`).

    Long on purpose: the sweep's steps in the order they happen, each a call, with the one
    rule that spans them (a sweep stopped before its parent run exists gives its name back)."""
    # Ray is imported here, not at the top: `tunelab --help` and spec errors must stay instant.
    from tunelab.backend import Cluster
    from tunelab.search import quiet_optuna

    started = time.perf_counter()
    quiet_optuna()
    for note in loaded.notes:
        print(f"tunelab: note: {note}", file=sys.stderr)
    continued = extend or resume
    plan = make_plan(
        loaded,
        stores,
        name=continued.sweep if continued is not None else None,
        command="resume" if resume is not None else "--extend",
        warm_start=warm_start,
        debug=debug,
    )
    began = False
    session: Session | None = None
    try:
        with Cluster(plan.address, debug=debug, metrics_port=stores.metrics_port) as cluster:
            nodes = cluster.nodes() if plan.address else [local_resources(loaded.spec)]
            # What an autoscaler can add counts: a 0-CPU head with workers from 0 takes a sweep.
            workers = concurrency(loaded, nodes, cluster.node_types())  # before any run exists
            prepared = prepare(loaded, tracking_uri=plan.tracking_uri)
            study_storage, seeded = open_study(plan, loaded)
            if resume is not None:  # Ray runs what goes on and what fills the budget
                from tunelab.search import trial_states

                resume = resume.settled(trial_states(plan.name, study_storage))
                continued = resume
                loaded = loaded.with_trials(resume.to_run(loaded.spec.budget.trials))
            params = parent_params(loaded, seeded, continued)
            session = open_tracking(plan, loaded, prepared, params, continued)
            with Heartbeat(session.writer):  # from the parent run's creation to the last trial
                cluster.start()  # Ray in this process starts while the writer reaches the store
                parent_run_id = session.writer.wait_ready()
                if loaded.spec.fusion is not None and loaded.spec.fusion.auto:
                    loaded, pick = pick_fusion(loaded, prepared, session.writer)
                    print(f"tunelab: {pick.describe()}", file=sys.stderr)
                began = True  # its parent run exists: its name is its for good
                state = starting_state(session.writer, continued, plan.folder)
                stop = run_recorded(
                    loaded,
                    plan=plan,
                    prepared=prepared,
                    session=session,
                    parent_run_id=parent_run_id,
                    state=state,
                    concurrency=workers,
                    study_storage=study_storage,
                    seeded=seeded,
                    first_trial=recorded(continued),
                    live=live,
                    started=started,
                    resume=resume,
                )
                if resume is not None and not stop.interrupted:
                    from tunelab.search import fail_abandoned

                    fail_abandoned(plan.name, study_storage)
            # Recorded before Ray in this process stops: the driver has nothing left to do with
            # Ray once it is down (its own threads may still export metrics when it stops).
            return record_sweep(
                loaded,
                plan=plan,
                state=state,
                writer=session.writer,
                template=session.template,
                views=session.views,
                parent_run_id=parent_run_id,
                study_storage=study_storage,
                interrupted=stop.interrupted,
                terminated=stop.terminated,
                started=started,
            )
    except BaseException:
        if not began:
            plan.release()  # stopped before it began: bad input, no store, Ctrl-C
        raise
    finally:
        if session is not None:
            session.views.close()


def open_study(plan: Plan, loaded: LoadedSpec) -> tuple[Any, WarmStart | None]:
    """The study's storage; with a warm start, the new study is created holding the earlier
    sweep's trials that fit the space (the searcher then loads it)."""
    storage = plan.study_storage()
    if plan.earlier is None:
        return storage, None
    from tunelab.search import seed_study

    return storage, seed_study(loaded.spec, sweep=plan.name, storage=storage, old=plan.earlier)


@dataclass(frozen=True)
class Stop:
    interrupted: bool  # stopped before its trials ended (Ctrl-C, SIGTERM)
    terminated: bool  # by SIGTERM


@dataclass(frozen=True)
class Session:
    writer: TrackingWriter
    template: ModelTemplate  # the trials' MLflow model, saved once, weights copied in per trial
    views: ViewsProcess  # where the sweep's views are drawn at its end


def recorded(continued: Extension | Resumption | None) -> int:
    """How many trials a sweep that goes on has recorded: new ones are numbered on from it."""
    if isinstance(continued, Resumption):
        return len(continued.trials)
    return len(continued.earlier) if continued is not None else 0


def parent_params(
    loaded: LoadedSpec, seeded: WarmStart | None, continued: Extension | Resumption | None
) -> dict[str, str] | None:
    """The parent run's params: a new sweep's settings; None for one that goes on, whose run
    is reopened and only gains the param that says so."""
    if continued is not None:
        return None
    return {**sweep_params(loaded), **(warm_start_params(seeded) if seeded else {})}


def open_tracking(
    plan: Plan,
    loaded: LoadedSpec,
    prepared: Prepared,
    params: dict[str, str] | None,
    continued: Extension | Resumption | None = None,
) -> Session:
    """Start the writer: it connects and creates the parent run (or reopens an extended or
    resumed sweep's) while the caller goes on; the model folder is saved on its thread while Ray
    starts. And start the process that draws the sweep's views at its end (see views._process):
    drawn in the driver, with their libraries' imports and first use, they kept the sweep's end
    waiting 2.5-3 s on 2 cores; warmed up on the driver's writer thread instead, they slowed
    the first trials' start by more where the trials took every core (benchmarks/README.md)."""
    spec = loaded.spec
    if isinstance(continued, Extension):
        params = extension_params(continued, spec.budget.trials)
    elif isinstance(continued, Resumption):
        params = resume_params(continued)
    writer = TrackingWriter(plan.tracking_uri, spec.experiment, spool_path=plan.spool_path)
    writer.open_sweep(
        plan.name,
        tags=sweep_tags(
            sweep=plan.name,
            model=spec.model.name,
            dataset=spec.dataset.label,
            data_sha256=prepared.data.digest(),
        ),
        params=params or {},
        reopen=continued is not None,
    )
    # Recorded now, with a summary after every trial: an interrupted sweep can still be
    # explained and promoted. The sweep as run, flags included: what resume, --extend,
    # reproduce and report read back. A resumed sweep's is already there.
    if isinstance(continued, Extension):
        writer.call("record the spec", spec_writer(continued.spec_text))
    elif continued is None:
        writer.call("record the spec", spec_writer(loaded.recorded_text))
    data, arch = prepared.data, prepared.arch
    template = ModelTemplate(
        data.info,
        arch.trainer,
        example=None if trainer_of(arch.trainer).generates else data.val.x[:EXAMPLE_INPUTS],
        folder=plan.folder / MODEL_TEMPLATE_FOLDER,  # an upload kept for the store outlives us
    )
    writer.call("prepare the model folder", lambda _client, _ids: template.prepare(), local=True)
    return Session(writer, template, ViewsProcess())


def earlier_key(run_id: str) -> str:
    """How a trial recorded before this run of the sweep is known in its state."""
    return f"earlier-{run_id}"


def starting_state(
    writer: TrackingWriter, continued: Extension | Resumption | None, folder: Path
) -> SweepState:
    """An empty state; for a sweep that goes on, its trials as recorded, so the summary, the
    ranking and the budget cover the whole sweep. An extended sweep's earlier trials are named,
    never written. A resumed sweep's are known by Ray's trial id: one that had not ended goes
    on in its run when Ray Tune restarts it, from the checkpoint of its last recorded epoch
    (its model, should it have nothing left to train)."""
    from tunelab.backend import checkpoint_dir_at

    state = SweepState()
    if continued is None:
        return state
    going_on = {t.run_id for t in continued.going_on()} if isinstance(continued, Resumption) else ()
    for trial in continued.trials if isinstance(continued, Resumption) else continued.earlier:
        resumed = trial.run_id in going_on
        # A trial that goes on is handed over to Ray's new id when it starts (SweepRecorder).
        key = resumed_key(trial.name) if resumed else earlier_key(trial.run_id)
        state.trials[key] = TrialRecord(
            name=trial.name,
            config=trial.config,
            last_epoch=trial.last_epoch,
            last_value=trial.last_value,
            outcome=trial.outcome,
            last_values=trial.last_values,
            started=time.time() - trial.seconds,  # only the duration counts (CPU-hours)
            ended=time.time(),
            resumed=resumed,
            seconds_before=trial.seconds,
            run_id=trial.run_id,
        )
        if isinstance(continued, Resumption):  # its model, should it rank among the best
            at = checkpoint_dir_at(folder / trial.name, trial.last_epoch or 0)
            state.trials[key].checkpoint = str(at) if at is not None else None
        writer.adopt(key, trial.run_id)
        if trial.settled and trial.outcome is not None:  # its run ends as its Optuna trial did
            writer.end_run(key, RUN_STATUS[trial.outcome], end_tags(trial.outcome))
    return state


def run_recorded(
    loaded: LoadedSpec,
    *,
    plan: Plan,
    prepared: Prepared,
    session: Session,
    parent_run_id: str,
    state: SweepState,
    concurrency: int,
    study_storage: Any,
    seeded: WarmStart | None,
    first_trial: int,
    live: bool,
    started: float,
    resume: Resumption | None = None,
) -> Stop:
    """Run the trials on the backend, each event recorded as it happens; with `live`, under
    the live board. When the sweep was interrupted, its open trials end KILLED. (Long for the
    recorder's and the board's set-up, which need the plan, the session and the resumption.)"""
    from tunelab import backend, training

    spec = loaded.spec
    writer, template = session.writer, session.template
    board = _board(plan.name, loaded) if live else None
    metrics = backend.SweepMetrics(plan.name, spec.metric)
    budget = Budget(spec, state, spent_wall_s=resume.spent_wall_s if resume else 0.0)
    recorder = SweepRecorder(
        spec=spec,
        sweep=plan.name,
        parent_run_id=parent_run_id,
        writer=writer,
        board=board,
        state=state,
        metric_names=(
            *training.reported_metrics(prepared.arch.trainer, prepared.data.task),
            *scheduled_metrics(spec, prepared.arch.trainer),
        ),
        # A trial among the final 10 best was among the best when it finished, so each of them
        # has its model; a few that later fell out of the 10 keep theirs.
        keep_model=lambda trial_id, checkpoint: writer.call(
            "log a top trial's model",
            template.logger(run_key=trial_id, checkpoint_path=checkpoint),
        ),
        keep_models=TOP_TRIALS,
        on_trial_end=lambda: writer.call(
            "record the summary so far",
            summary_writer(spec, state, time.perf_counter() - started, final=False),
        ),
        metrics=metrics,
        on_first_result=session.views.start,
    )
    if resume is not None:  # ended here as Optuna had it, before its model was logged
        for trial in resume.trials:
            if trial.settled and trial.outcome is not None:
                recorder.keep_if_top(earlier_key(trial.run_id))
    from rich.console import Console

    console = Console(stderr=True)
    if seeded is not None:
        console.print(seeded.describe(), highlight=False)
    try:
        with _live(board, console), LevelPublisher(metrics, state, budget, writer):
            if spec.budget.trials == 0:  # a resumed sweep with nothing left to run
                return Stop(interrupted=False, terminated=False)
            end = backend.run_trials(
                spec,
                sweep=plan.name,
                data=prepared.data,
                architecture=prepared.arch,
                options=prepared.options,
                results_dir=plan.stores.results_root,
                concurrency=concurrency,
                events=recorder,
                budget=budget,
                study_storage=study_storage,
                first_trial=first_trial,
                continued=resume.continued(plan.folder) if resume is not None else None,
                earlier=resume.earlier_results() if resume is not None else None,
                sampler_seed=spec.seed + resume.study_trials if resume is not None else None,
                asked=resume.asked if resume is not None else (),
            )
        recorder.end_stopped_by_budget()
        # On Ctrl-C or SIGTERM Ray Tune stops gracefully and returns as usual; the trials it left
        # running tell.
        return Stop(end.gave_up or state.open, end.terminated)
    finally:
        recorder.end_unfinished()


def _board(name: str, loaded: LoadedSpec) -> Board:
    from tunelab.views import Board

    spec = loaded.spec
    return Board(
        sweep=name, trials=spec.budget.trials, max_epochs=spec.budget.max_epochs, metric=spec.metric
    )


@contextmanager
def _live(board: Board | None, console: Any) -> Iterator[None]:
    """The live board on `console` while the sweep runs. It ends with its line ended: rich ends
    it on a terminal only, and the summary printed next must not run on from "ETA 0:00:00"
    where stderr is a file or a pipe."""
    if board is None:
        yield
        return
    from rich.live import Live

    with Live(board, console=console, refresh_per_second=4, transient=False):
        yield
    if not console.is_terminal:
        console.line()


def scheduled_metrics(spec: SweepSpec, trainer: str) -> tuple[str, ...]:
    """A population based sweep's trials report the hyperparameters it changes, each epoch."""
    if not spec.scheduler.population_based:
        return ()
    from tunelab.backend import SCHEDULE_PREFIX

    return tuple(SCHEDULE_PREFIX + name for name in population_parameters(spec, trainer))
