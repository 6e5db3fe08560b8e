"""A sweep from start to end: the spec is already valid; this wires Ray, tracking and the view."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import env
from tunelab.errors import TunelabError
from tunelab.spec import LoadedSpec, SweepSpec
from tunelab.tracking import (
    SWEEP,
    ModelTemplate,
    Outcome,
    TrackingWriter,
    params_of,
    parent_summary_writer,
)
from tunelab.tracking._mapping import TAG_DATASET, TAG_MODEL, TAG_PARETO, TAG_ROLE, TAG_SWEEP
from tunelab.tracking._spool import SpoolState
from tunelab.tracking._sweep import TOP_TRIALS
from tunelab.tracking._views import prewarm_views, views_writer

if TYPE_CHECKING:
    from tunelab.extend import Extension

DEFAULT_RESULTS_DIR = "tunelab_results"
GIVE_UP_S = 120.0  # default wait for an unreachable tracking store at the end
EXAMPLE_INPUTS = 2  # validation examples saved as the model's input example


@dataclass
class SweepReport:
    sweep: str
    experiment: str
    experiment_id: str
    tracking_uri: str
    parent_run_id: str
    counts: dict[str, int]
    best: dict[str, Any] | None
    wall_s: float
    results_dir: str
    interrupted: bool = False
    failed_writes: list[str] = field(default_factory=list)
    pending_writes: SpoolState | None = None  # kept on disk: the store stayed unreachable
    budget_reached: str | None = None  # the cap that ended the sweep, if one did

    def as_json(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "parent_run_id": self.parent_run_id,
            "trials": self.counts,
            "best": self.best,
            "wall_s": round(self.wall_s, 3),
            "budget_reached": self.budget_reached,
        }


def sweep_name(loaded: LoadedSpec, results_dir: Path) -> str:
    """The spec's name (or file name) and a timestamp, unless --name/name: fixes it exactly."""
    spec = loaded.spec
    if spec.name and "--name" in loaded.overrides:
        name = spec.name
    else:
        base = spec.name or Path(loaded.source).stem.replace("_", "-")
        name = f"{base}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if (results_dir / name).exists():
        raise TunelabError(
            f"a sweep named '{name}' already exists in {results_dir}; choose another --name"
        )
    return name


def results_root(explicit: str | None = None) -> Path:
    return Path(explicit or env.TUNELAB_RESULTS_DIR.get() or DEFAULT_RESULTS_DIR).resolve()


def run_sweep(
    loaded: LoadedSpec,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    results_dir: str | None = None,
    database_uri: str | None = None,
    live: bool = True,
    debug: bool = False,
    warm_start: str | None = None,
    extend: Extension | None = None,
) -> SweepReport:
    """Run the sweep. `warm_start` names an earlier sweep (in the same results folder, or the
    same database in server mode) whose finished trials seed the search. `extend` runs more
    trials of a finished sweep, in its parent run and its study (see tunelab.extend)."""
    # Ray is imported here, not at the top: `tunelab --help` and spec errors must stay instant.
    import optuna
    from rich.console import Console
    from rich.live import Live

    from tunelab import tune as ray_side
    from tunelab.preflight import prepare
    from tunelab.progress import Board
    from tunelab.training import reported_metrics

    spec = loaded.spec
    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = results_root(results_dir)
    name = extend.sweep if extend is not None else sweep_name(loaded, root)
    address = address or env.RAY_ADDRESS.get()
    tracking_uri = tracking_uri or env.MLFLOW_TRACKING_URI.get()
    database_uri = database_uri or env.TUNELAB_DATABASE_URI.get()
    storage = None
    if database_uri:  # server mode: the study lives in the server's database; checked first
        from tunelab.server import study_storage

        storage = study_storage(database_uri)
    if extend is not None and storage is None and not (root / name / "optuna.journal").exists():
        raise TunelabError(f"--extend: no study of sweep {name!r} in {root} (see --results-dir)")
    earlier = None
    if warm_start:  # checked now; the new study is seeded just before the trials start
        from tunelab.warm_start import source_study

        journal = root / warm_start / "optuna.journal"
        if storage is None and not journal.exists():
            raise TunelabError(f"--warm-start: no sweep named {warm_start!r} in {root}")
        earlier = source_study(spec, warm_start, storage or ray_side.optuna_journal(journal))

    we_started_ray = False
    try:
        if address:  # join first: the cluster's resources are checked before any run is created
            we_started_ray = ray_side.start_ray(address, debug=debug)
            fits = ray_side.check_resources(spec)
        else:  # checked before Ray starts
            fits = ray_side.fit_trials(spec, [_local_resources(spec)])
        concurrency = spec.budget.concurrency or _default_concurrency(spec, fits)
        prepared = prepare(loaded, tracking_uri=tracking_uri)
    except BaseException as exc:  # leave a joined cluster before reporting
        if address:
            ray_side.shutdown_ray()
        if isinstance(exc, ray_side.ResourceProblem):
            raise loaded.locate(exc.path, str(exc)) from None
        raise
    data = prepared.data
    study_store = storage or ray_side.optuna_journal(root / name / "optuna.journal")
    seeded = None
    if earlier is not None:
        from tunelab.warm_start import seed_study

        seeded = seed_study(spec, sweep=name, storage=study_store, old=earlier)

    writer = TrackingWriter(
        tracking_uri, spec.experiment, spool_path=root / name / "tracking_spool.jsonl"
    )
    writer.open_sweep(
        name,
        tags={
            TAG_ROLE: "sweep",
            TAG_SWEEP: name,
            TAG_MODEL: spec.model.name,
            TAG_DATASET: spec.dataset.label,
        },
        params=_extension_params(extend, spec)
        if extend is not None
        else {
            **_sweep_params(loaded),
            **(
                {
                    "warm_start": seeded.source,
                    "warm_start_trials": str(seeded.imported),
                    "warm_start_skipped": str(seeded.out_of_bounds + seeded.incomplete),
                }
                if seeded is not None
                else {}
            ),
        },
        reopen=extend is not None,
    )
    # Saved by the writer thread while Ray starts; only the best weights are copied in at the end.
    template = ModelTemplate(
        data.info,
        prepared.arch.trainer,
        example=None if prepared.arch.trainer == "gan" else data.val.x[:EXAMPLE_INPUTS],
    )
    writer.call("prepare the model folder", template.prepare)
    writer.call("warm up the views", prewarm_views)
    try:
        if not address:  # starts while the writer connects to the store
            we_started_ray = ray_side.start_ray(None, debug=debug)
        parent_run_id = writer.wait_ready()
    except BaseException:
        if we_started_ray:
            ray_side.shutdown_ray()
        raise

    board = Board(
        sweep=name,
        trials=spec.budget.trials,
        max_epochs=spec.budget.max_epochs,
        metric=spec.metric,
        mode=spec.mode,
    )
    state = ray_side.SweepState()
    for trial in extend.earlier if extend is not None else []:  # the summary covers them all
        key = f"earlier-{trial.run_id}"
        state.trials[key] = ray_side.TrialRecord(
            name=trial.name,
            config=trial.config,
            last_epoch=trial.last_epoch,
            last_value=trial.last_value,
            outcome=trial.outcome,
            last_values=trial.last_values,
            started=time.time() - trial.seconds,  # only the duration counts (CPU-hours)
            ended=time.time(),
        )
        writer.adopt(key, trial.run_id)
    callback = ray_side.TrackingCallback(
        spec=spec,
        sweep=name,
        parent_run_id=parent_run_id,
        writer=writer,
        board=board,
        state=state,
        metric_names=reported_metrics(prepared.arch.trainer, data.task),
        # A trial among the final 10 best was among the best when it finished, so each of them
        # has its model; a few that later fell out of the 10 keep theirs.
        keep_model=lambda trial_id, checkpoint: writer.call(
            "log a top trial's model",
            template.logger(run_key=trial_id, checkpoint_path=checkpoint),
        ),
        keep_models=TOP_TRIALS,
    )
    console = Console(stderr=True)
    if seeded is not None:
        console.print(seeded.describe(), highlight=False)
    view = (
        Live(board, console=console, refresh_per_second=4, transient=False)
        if live
        else nullcontext()
    )
    try:
        with view:
            outcome = ray_side.run_tune(
                spec,
                sweep=name,
                data=data,
                options=prepared.options,
                results_dir=root,
                concurrency=concurrency,
                callback=callback,
                study_storage=study_store,
                first_trial=len(extend.earlier) if extend is not None else 0,
            )
    finally:
        callback.end_unfinished()
        if we_started_ray:
            ray_side.shutdown_ray()

    counts = {o.value: 0 for o in Outcome}
    for record in state.trials.values():
        if record.outcome is not None:
            counts[record.outcome.value] += 1
    wall_s = time.perf_counter() - started
    # If the store is unreachable, wait a while for it; what is left is kept on disk.
    give_up_at = time.monotonic() + float(env.TUNELAB_TRACKING_GIVE_UP_S.get() or GIVE_UP_S)
    writer.flush(timeout_s=max(0.0, give_up_at - time.monotonic()))

    def entry(trial_id: str, **values: Any) -> dict[str, Any]:
        record = state.trials[trial_id]
        return {
            "trial": record.name,
            **values,
            "config": record.config,
            "run_id": writer.run_id(trial_id),
        }

    best = None
    if outcome.best_trial_id is not None:
        best = entry(outcome.best_trial_id, metric=state.trials[outcome.best_trial_id].last_value)
    ranked = ray_side.ranked_trials(state, spec.mode)[:TOP_TRIALS]
    top = [
        entry(t, metric=state.trials[t].last_value, outcome=str(state.trials[t].outcome))
        for t in ranked
    ]
    front: list[dict[str, Any]] | None = None
    if spec.objectives:  # the trade-offs, tagged on their runs and listed in the summary
        front = []
        for trial_id in ray_side.pareto_front(state, spec.targets):
            writer.set_tags(trial_id, {TAG_PARETO: "true"})
            values = state.trials[trial_id].last_values
            front.append(entry(trial_id, values={m: values[m] for m, _ in spec.targets}))
    trial_hours = sum(record.seconds for record in state.trials.values()) / 3600
    writer.call(
        "record the sweep summary",
        parent_summary_writer(
            parent_run_id=parent_run_id,
            spec_text=loaded.text,
            metric=spec.metric,
            counts=counts,
            best=best,
            top=top,
            pareto_front=front,
            wall_s=wall_s,
            usage={
                "cpu_hours": trial_hours * spec.resources.cpu,
                "gpu_hours": trial_hours * spec.resources.gpu,
            },
            budget_reached=state.budget_reached,
        ),
    )
    writer.call(
        "draw the sweep's views",
        views_writer(
            parent_run_id=parent_run_id,
            load_study=lambda: optuna.load_study(study_name=name, storage=study_store),
            target_name=",".join(metric for metric, _ in spec.targets),
        ),
    )
    parent_status = "KILLED" if outcome.interrupted else "FINISHED"
    writer.end_run(SWEEP, parent_status)
    writer.close(timeout_s=max(0.0, give_up_at - time.monotonic()))
    pending = writer.pending()
    if pending is None:
        template.cleanup()  # (else the kept model upload still needs its folder)
    return SweepReport(
        sweep=name,
        experiment=spec.experiment,
        experiment_id=writer.experiment_id or "",
        tracking_uri=writer.tracking_uri or "",
        parent_run_id=parent_run_id,
        counts=counts,
        best=best,
        wall_s=time.perf_counter() - started,
        results_dir=str(root / name),
        interrupted=outcome.interrupted,
        failed_writes=writer.failed_writes,
        pending_writes=pending,
        budget_reached=state.budget_reached,
    )


def _sweep_params(loaded: LoadedSpec) -> dict[str, str]:
    spec = loaded.spec
    flat = {
        "model": spec.model.name,
        "dataset": spec.dataset.label,
        **{f"model.{k}": v for k, v in spec.model.options.items()},
        **{f"dataset.{k}": v for k, v in spec.dataset.options.items()},
        "metric": spec.metric,
        "mode": spec.mode,
        "objectives": ",".join(f"{m}:{mode}" for m, mode in spec.targets)
        if spec.objectives
        else None,
        "trials": spec.budget.trials,
        "max_epochs": spec.budget.max_epochs,
        "concurrency": spec.budget.concurrency,
        "sampler": spec.searcher.sampler,
        "scheduler": spec.scheduler.type,
        "cpu_per_trial": spec.resources.cpu,
        "gpu_per_trial": spec.resources.gpu,
        "seed": spec.seed,
        "spec_file": loaded.source,
    }
    return params_of({k: v for k, v in flat.items() if v is not None})


def _extension_params(extend: Extension, spec: SweepSpec) -> dict[str, str]:
    """New params only: MLflow keeps a param's first value for good."""
    return {f"extension_{extend.number}_trials": str(spec.budget.trials)}


def _default_concurrency(spec: SweepSpec, fits: int) -> int:
    """As many trials at once as the resources hold; for hyperband, a whole bracket (the rest
    wait for resources), since it halves a bracket only once all its trials have started."""
    if spec.scheduler.type == "hyperband":
        from tunelab.spec._checks import hyperband_bracket_size, hyperband_reduction_factor

        return max(
            fits, hyperband_bracket_size(spec.budget.max_epochs, hyperband_reduction_factor(spec))
        )
    return fits


def _local_resources(spec: SweepSpec) -> tuple[float, float]:
    """(CPUs, GPUs) the in-process Ray will see on this machine."""
    import os

    gpus = 0.0
    if spec.resources.gpu > 0:  # torch's import is paid only when a GPU is asked for
        import torch

        gpus = float(torch.cuda.device_count())
    return float(os.cpu_count() or 1), gpus


__all__ = ["SweepReport", "run_sweep"]
