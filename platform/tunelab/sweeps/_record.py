"""What a sweep records on its parent run: its settings when it starts; its outcome when it
ends (counts, the best trial, the top 10, the Pareto front, usage, the views), and the result
it returns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tunelab import env
from tunelab.search import WarmStart
from tunelab.spec import FloatParam, IntParam, LoadedSpec, SweepSpec
from tunelab.sweeps._plan import Plan
from tunelab.sweeps._ranking import TOP_TRIALS, best_trial, pareto_front, ranked_trials
from tunelab.sweeps._result import SweepResult
from tunelab.sweeps._state import FINISHED, SweepState
from tunelab.tracking import (
    SWEEP,
    VIEWS_ARTIFACT,
    ModelTemplate,
    TrackingWriter,
    ViewSaver,
    folder_writer,
    params_of,
    parent_summary_writer,
)
from tunelab.tracking.tags import TAG_PARETO
from tunelab.views import ViewsProcess

GIVE_UP_S = 120.0  # default wait for an unreachable tracking store at the end


def sweep_params(loaded: LoadedSpec) -> dict[str, str]:
    """The sweep's settings, as the parent run's params."""
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
        "cpu_per_trial": spec.resources.trial_cpu,
        "gpu_per_trial": spec.resources.trial_gpu,
        "workers_per_trial": spec.resources.workers if spec.resources.workers > 1 else None,
        "seed": spec.seed,
        "max_retries": spec.failure.max_retries,
        "fusion": spec.fusion.size if spec.fusion is not None else None,  # K, or auto
        # Absolute: data files named relative to the spec are found from anywhere, later.
        "spec_file": str(Path(loaded.source).resolve()),
    }
    return params_of({k: v for k, v in flat.items() if v is not None})


def warm_start_params(seeded: WarmStart) -> dict[str, str]:
    return {
        "warm_start": seeded.source,
        "warm_start_trials": str(seeded.imported),
        "warm_start_skipped": str(seeded.out_of_bounds + seeded.incomplete),
    }


def record_sweep(
    loaded: LoadedSpec,
    *,
    plan: Plan,
    state: SweepState,
    writer: TrackingWriter,
    template: ModelTemplate,
    parent_run_id: str,
    study_storage: Any,
    interrupted: bool,
    started: float,
    terminated: bool = False,
    views: ViewsProcess | None = None,
) -> SweepResult:
    """Record the sweep's outcome on its parent run, end it, and wait for the store (up to
    TUNELAB_TRACKING_GIVE_UP_S; what it cannot take stays on disk).

    Long on purpose: the order of these writes is the contract a reader of the store relies on
    (the summary and the views before the parent run's end, the end last)."""
    spec = loaded.spec
    counts = state.counts()
    wall_s = time.perf_counter() - started
    if views is not None:  # drawn there while the last trials' results are recorded here
        views.draw(plan.name, study_storage, ",".join(metric for metric, _ in spec.targets))
    give_up_at = time.monotonic() + (env.TUNELAB_TRACKING_GIVE_UP_S.get() or GIVE_UP_S)
    writer.flush(timeout_s=max(0.0, give_up_at - time.monotonic()))

    writer.call(
        "record the sweep summary",
        summary_writer(spec, state, wall_s, final=True, interrupted=interrupted),
    )
    if spec.objectives:  # the trade-offs are tagged on their runs, and listed in the summary
        for trial_id in pareto_front(state, spec.targets, spec.constraints):
            writer.set_tags(trial_id, {TAG_PARETO: "true"})
    writer.call(
        "draw the sweep's views",
        folder_writer(
            parent_run_id,
            VIEWS_ARTIFACT,
            lambda folder: _draw_views(folder, plan.name, study_storage, spec, state, views),
            prefix="tunelab-views-",
            keep_in=plan.folder / VIEWS_ARTIFACT,
        ),
    )
    view = ViewSaver(
        writer.experiment_id or "",
        plan.name,
        metric=spec.metric,
        mode=spec.mode,
        metrics=[metric for metric, _ in spec.targets],
        params=list(spec.space),
    )
    writer.call("save the sweep's view in MLflow's UI", view)
    writer.end_run(SWEEP, "KILLED" if interrupted else "FINISHED")
    writer.close(timeout_s=max(0.0, give_up_at - time.monotonic()))
    pending = writer.pending()
    if pending is None:
        template.cleanup()  # (else the kept model upload still needs its folder)
    best_id = best_trial(state, spec.mode, spec.constraints)
    best = None
    if best_id is not None:
        record = state.trials[best_id]
        best = {
            "trial": record.name,
            "metric": record.last_value,
            "config": record.config,
            "run_id": writer.run_id(best_id),
        }
        if spec.constraints:
            best["feasible"] = not spec.violations(record.last_values)
    return SweepResult(
        sweep=plan.name,
        experiment=spec.experiment,
        experiment_id=writer.experiment_id or "",
        tracking_uri=writer.tracking_uri or "",
        parent_run_id=parent_run_id,
        counts=counts,
        best=best,
        wall_s=time.perf_counter() - started,
        results_dir=str(plan.folder),
        metric=spec.metric,
        mode=spec.mode,
        interrupted=interrupted,
        terminated=terminated,
        failed_writes=writer.failed_writes,
        pending_writes=pending,
        budget_reached=state.budget_reached,
        stuck=state.stuck,
        trial_rows=trial_rows(state, writer, spec),
        view=view.key if view.saved else None,
    )


def summary_writer(
    spec: SweepSpec, state: SweepState, wall_s: float, *, final: bool, interrupted: bool = False
) -> Any:
    """A writer call recording the summary of the sweep as `state` has it now: the best trial,
    the top 10, the Pareto front, counts and usage. Each entry names its trial by key; the
    writer knows the run ids."""

    def entry(trial_id: str, **values: Any) -> dict[str, Any]:
        record = state.trials[trial_id]
        if spec.constraints:  # which constraints it breaks, if any
            broken = spec.violations(record.last_values)
            values.update(feasible=not broken, broken_constraints=sorted(broken))
        return {"trial": record.name, **values, "config": record.config, "key": trial_id}

    best_id = best_trial(state, spec.mode, spec.constraints)
    best = None if best_id is None else entry(best_id, metric=state.trials[best_id].last_value)
    top = [
        entry(t, metric=state.trials[t].last_value, outcome=str(state.trials[t].outcome))
        for t in ranked_trials(state, spec.mode, spec.constraints)[:TOP_TRIALS]
    ]
    front = None
    if spec.objectives:
        front = [
            entry(t, values={m: state.trials[t].last_values[m] for m, _ in spec.targets})
            for t in pareto_front(state, spec.targets, spec.constraints)
        ]
    trial_hours = state.trial_hours()
    return parent_summary_writer(
        metric=spec.metric,
        counts=state.counts(),
        best=best,
        top=top,
        pareto_front=front,
        wall_s=wall_s,
        usage={
            "cpu_hours": trial_hours * spec.resources.trial_cpu,  # every worker's
            "gpu_hours": trial_hours * spec.resources.trial_gpu,
        },
        budget_reached=state.budget_reached,
        final=final,
        interrupted=interrupted,
    )


def trial_rows(state: SweepState, writer: TrackingWriter, spec: SweepSpec) -> list[dict[str, Any]]:
    """Each trial as a flat row: what it did (under constraints, whether it is feasible), then
    its config (a hyperparameter whose name is taken by a column comes as `config.NAME`)."""
    rows = []
    for trial_id, record in state.trials.items():
        row: dict[str, Any] = {
            "trial": record.name,
            "outcome": record.outcome.value if record.outcome is not None else None,
            "epochs": record.last_epoch,
        }
        for index, (metric, _) in enumerate(spec.targets):
            row[metric] = record.last_value if index == 0 else record.last_values.get(metric)
        for metric in spec.constraints:
            row.setdefault(metric, record.last_values.get(metric))
        if spec.constraints:
            finished = record.outcome in FINISHED
            row["feasible"] = not spec.violations(record.last_values) if finished else None
        row["seconds"] = round(record.seconds, 3)
        row["run_id"] = writer.run_id(trial_id)
        for key, value in record.config.items():
            row[f"config.{key}" if key in row else key] = value
        rows.append(row)
    return rows


def _draw_views(
    folder: Path,
    name: str,
    storage: Any,
    spec: SweepSpec,
    state: SweepState,
    views: ViewsProcess | None,
) -> None:
    """The sweep's views, from the process that drew them, or else drawn here."""
    from tunelab.search import load_study
    from tunelab.views import draw_population, draw_views_into

    if views is None or not views.drawn(folder):
        study = load_study(name, storage)
        draw_views_into(folder, study, target_name=",".join(metric for metric, _ in spec.targets))
    if spec.scheduler.population_based:
        from tunelab.backend import SCHEDULE_PREFIX

        trials = {
            r.name: {"schedule": r.schedule, "lineage": r.lineage}
            for r in list(state.trials.values())
            if r.schedule
        }
        log_scale = frozenset(
            n for n, p in spec.space.items() if isinstance(p, FloatParam | IntParam) and p.log
        )
        draw_population(
            folder, trials, metric=spec.metric, schedule_prefix=SCHEDULE_PREFIX, log_scale=log_scale
        )
