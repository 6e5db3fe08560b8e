"""Checks that need more than the spec's shape: registries, the trial contract, conditions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from tunelab.data import Dataset
from tunelab.errors import NotFoundError, PluginError, SpecError
from tunelab.models import ACTIVATION_NAMES, FREEZE_STRATEGIES, INIT_CHOICES, Architecture, Range
from tunelab.plugins import resolve_architecture, resolve_dataset
from tunelab.spec._load import LoadedSpec, parse_spec
from tunelab.spec._params import CategoricalParam, ConstantParam, FloatParam, IntParam
from tunelab.spec._population import POPULATION_SETTINGS, check_population
from tunelab.spec._schema import SweepSpec
from tunelab.training import (
    OPTIMIZERS,
    reported_metrics,
    trainer_of,
    trainers,
    unfusable,
)

# Hyperparameters whose values are names: a typo is caught here, not in a trial.
NAMED_VALUES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS,
    "activation": ACTIVATION_NAMES,
    "freeze": FREEZE_STRATEGIES,
    "init": INIT_CHOICES,
}


def ref_path(loaded: LoadedSpec, key: str, field: str) -> tuple[str, ...]:
    """Where a model or dataset reference is written: `key.field` in the mapping form, `key` in
    the short form (`model: cnn`)."""
    return (key, field) if (key, field) in loaded.lines else (key,)


def resolve_model(loaded: LoadedSpec) -> Architecture:
    ref = loaded.spec.model.name
    try:
        return resolve_architecture(ref)
    except (NotFoundError, PluginError) as exc:
        raise loaded.locate(ref_path(loaded, "model", "name"), str(exc)) from None


def resolve_data(loaded: LoadedSpec) -> Dataset:
    ref = loaded.spec.dataset
    if ref.file is not None:
        path = data_file(loaded)
        if not path.exists():
            raise loaded.locate(
                ref_path(loaded, "dataset", "file"), f"no such file or folder: {path}"
            )
        return resolve_dataset(file=path)
    try:
        return resolve_dataset(ref.name)
    except (NotFoundError, PluginError) as exc:
        raise loaded.locate(ref_path(loaded, "dataset", "name"), str(exc)) from None


def data_file(loaded: LoadedSpec) -> Path:
    """A dataset file's path: relative paths are read from the spec file's folder."""
    path = Path(loaded.spec.dataset.file or "").expanduser()
    return path if path.is_absolute() else Path(loaded.source).resolve().parent / path


def _check_options(
    loaded: LoadedSpec,
    key: str,
    label: str,
    accepted: Mapping[str, Any] | None,
    given: Mapping[str, Any],
) -> None:
    if accepted is None:
        return  # a plugin's loader or builder says for itself
    for name in given:
        if name not in accepted:
            known = f"; it takes: {', '.join(accepted)}" if accepted else "; it takes none"
            raise loaded.locate(
                (key, "options", name),
                f"not an option of {key} '{label}'{known}",
            )


def check_compatible(
    loaded: LoadedSpec, arch: Architecture, task: str | None, kind: str | None
) -> None:
    """The model handles the dataset's task and input kind, and reports the spec's metric.
    Run at spec time for declared datasets, and once loaded for files and plugins."""
    spec = loaded.spec
    data_label = spec.dataset.label
    if task is not None and task not in arch.tasks:
        raise loaded.locate(
            ("dataset",),
            f"model '{spec.model.name}' handles {', '.join(sorted(arch.tasks))} tasks; "
            f"'{data_label}' is a {task} task",
        )
    if kind is not None and kind not in arch.inputs:
        raise loaded.locate(
            ("dataset",),
            f"model '{spec.model.name}' reads {', '.join(sorted(arch.inputs))} inputs; "
            f"'{data_label}' holds {kind} inputs",
        )
    if task is None:
        return
    reported = reported_metrics(arch.trainer, task)
    named: list[tuple[tuple[str | int, ...], str]] = (
        [(("objectives", i, "metric"), o.metric) for i, o in enumerate(spec.objectives)]
        if spec.objectives
        else [(("metric",), spec.metric)]
    )
    named += [(("constraints", metric), metric) for metric in spec.constraints]
    for where, metric in named:
        if metric not in reported:
            raise loaded.locate(
                where,
                f"'{metric}' is never reported by model '{spec.model.name}' on '{data_label}'; "
                f"it reports: {', '.join(reported)}",
            )


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> LoadedSpec:
    """Read, validate and check a spec file (`check_spec`). `overrides` maps flags (`--trials`)
    to values; None means unset."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror or exc}", source=source) from None
    loaded = parse_spec(text, source, overrides)
    check_spec(loaded)
    return loaded


def check_spec(loaded: LoadedSpec) -> None:
    """Everything a spec names, checked against what it names (the model, its trainer, the
    dataset, the search space, the scheduler and searcher), before anything starts: a
    SpecError located at the key at fault."""
    spec = loaded.spec
    arch = resolve_model(loaded)
    if arch.trainer not in trainers:
        raise loaded.locate(
            ref_path(loaded, "model", "name"),
            f"model '{spec.model.name}' names trainer '{arch.trainer}'; trainers: "
            f"{', '.join(trainers.registered())}",
        )
    trainer = trainer_of(arch.trainer)
    dataset = resolve_data(loaded)
    _check_options(loaded, "model", spec.model.name, arch.options, spec.model.options)
    _check_options(loaded, "dataset", spec.dataset.label, dataset.options, spec.dataset.options)
    if dataset.task is not None or dataset.input_kind is not None:
        check_compatible(loaded, arch, dataset.task, dataset.input_kind)
    if spec.budget.max_gpu_hours is not None and spec.resources.gpu == 0:
        raise loaded.locate(
            ("budget", "max_gpu_hours"), "caps GPU-hours, but resources.gpu is 0: no GPU is used"
        )
    _check_space(loaded, arch, {**trainer.hyperparameters, **arch.hyperparameters})
    _check_ranges(loaded, {**trainer.ranges, **arch.ranges})
    _check_conditions(loaded)
    _check_objectives(loaded)
    _check_scheduler(loaded, arch)
    if spec.fusion is not None:
        _check_fusion(loaded, arch)
    if spec.resources.workers > 1:
        _check_workers(loaded, arch)
    _check_reproducible(loaded)


def _check_space(loaded: LoadedSpec, arch: Architecture, known: Mapping[str, Any]) -> None:
    """Each searched name is the model's or its trainer's (unless the model is not strict);
    a named value (an optimizer, an activation) is one of those known."""
    for name, param in loaded.spec.space.items():
        if name not in known and arch.strict:
            raise loaded.locate(
                ("space", name),
                f"not a hyperparameter of model '{loaded.spec.model.name}' or its trainer; "
                f"known: {', '.join(sorted(known))}",
            )
        allowed = NAMED_VALUES.get(name)
        if not allowed:
            continue
        values = (
            param.choices
            if isinstance(param, CategoricalParam)
            else ([param.value] if isinstance(param, ConstantParam) else None)
        )
        if values is None:
            raise loaded.locate(
                ("space", name, "type"), f"must be categorical, one of {', '.join(allowed)}"
            )
        for index, value in enumerate(values):
            if value not in allowed:
                where = (
                    ("space", name, "choices", index)
                    if isinstance(param, CategoricalParam)
                    else ("space", name)
                )
                raise loaded.locate(
                    where, f"unknown {name} {value!r}; available: {', '.join(allowed)}"
                )


def _check_objectives(loaded: LoadedSpec) -> None:
    """Several objectives, or constraints, with a scheduler and sampler that handle them; tpe's
    settings with tpe alone."""
    spec, scheduler, searcher = loaded.spec, loaded.spec.scheduler, loaded.spec.searcher
    if spec.objectives and scheduler.type not in ("asha", "fifo"):
        raise loaded.locate(
            ("scheduler",),
            f"{scheduler.type} would stop trials by the first objective alone; a multi-objective "
            "sweep takes asha (by non-dominated sorting, the default) or fifo",
        )
    if spec.objectives and scheduler.type == "asha" and (scheduler.brackets or 1) > 1:
        raise loaded.locate(
            ref_path(loaded, "scheduler", "brackets"),
            "a multi-objective sweep's asha has one bracket",
        )
    if spec.objectives and searcher.sampler == "cmaes":
        raise loaded.locate(
            ("searcher",),
            "cmaes optimises one objective; for several use tpe, nsga2, gp or random",
        )
    if spec.constraints and searcher.sampler == "cmaes":
        raise loaded.locate(
            ("searcher",),
            "cmaes cannot learn constraints; use tpe, nsga2 or gp (random and qmc need none)",
        )
    if searcher.sampler != "tpe":
        for key in ("startup_trials", "multivariate", "constant_liar"):
            if getattr(searcher, key) is not None:
                raise loaded.locate(
                    ("searcher", key), f"is a tpe setting; the sampler here is {searcher.sampler}"
                )


def _check_scheduler(loaded: LoadedSpec, arch: Architecture) -> None:
    """The scheduler's settings: each its own scheduler's, the grace period within the budget,
    hyperband's concurrency, population based training's (see _population)."""
    spec, scheduler = loaded.spec, loaded.spec.scheduler
    if scheduler.grace_period is not None and scheduler.grace_period > spec.budget.max_epochs:
        raise loaded.locate(
            ("scheduler", "grace_period"),
            f"must be <= budget.max_epochs ({spec.budget.max_epochs}), got {scheduler.grace_period}",
        )
    for key in ("brackets", "plateau"):
        if getattr(scheduler, key) is not None and scheduler.type != "asha":
            raise loaded.locate(
                ("scheduler", key), f"is an asha setting; the scheduler here is {scheduler.type}"
            )
    concurrency = spec.budget.concurrency
    if scheduler.type == "hyperband" and concurrency is not None:
        needed = hyperband_bracket_size(spec.budget.max_epochs, hyperband_reduction_factor(spec))
        if concurrency < needed:
            raise loaded.locate(
                ("budget", "concurrency"),
                f"hyperband halves a bracket only once all {needed} of its trials have started, "
                f"so it needs >= {needed}, got {concurrency}; raise it or use scheduler asha, "
                "which stops trials early at any concurrency",
            )
    if scheduler.population_based:
        check_population(loaded, arch)
        return
    for key in POPULATION_SETTINGS:
        if getattr(scheduler, key) is not None:
            raise loaded.locate(
                ("scheduler", key),
                f"is a pbt and pb2 setting; the scheduler here is {scheduler.type}",
            )


def _check_reproducible(loaded: LoadedSpec) -> None:
    spec = loaded.spec
    if spec.searcher.reproducible and spec.scheduler.type not in ("fifo", "asha"):
        raise loaded.locate(
            ("searcher", "reproducible"),
            f"orders what the searcher sees, and asha's rungs; scheduler {spec.scheduler.type} "
            "decides as results arrive, so the sweep would still vary with timing: use "
            "scheduler asha or fifo",
        )
    if spec.searcher.reproducible and spec.fusion is not None:
        raise loaded.locate(
            ("searcher", "reproducible"),
            "orders trials one by one; a fused group's members end together: no fusion",
        )


def _check_workers(loaded: LoadedSpec, arch: Architecture) -> None:
    spec = loaded.spec
    if not trainer_of(arch.trainer).data_parallel:
        raise loaded.locate(
            ("resources", "workers"),
            f"model '{arch.name}' trains with the {arch.trainer} trainer, which trains on one "
            "worker; data-parallel workers train the supervised models",
        )
    if spec.fusion is not None:
        raise loaded.locate(
            ("resources", "workers"),
            "a fused group trains on one worker; use fusion or workers, not both",
        )
    if 0 < spec.resources.gpu < 1:
        raise loaded.locate(
            ("resources", "gpu"),
            "data-parallel workers each need a whole GPU of their own (NCCL cannot share one); "
            f"got {spec.resources.gpu:g}",
        )


def _check_fusion(loaded: LoadedSpec, arch: Architecture) -> None:
    spec = loaded.spec
    assert spec.fusion is not None
    reason = unfusable(arch)
    if reason is not None:
        raise loaded.locate(("fusion",), reason)
    if spec.scheduler.type == "hyperband":
        raise loaded.locate(
            ("fusion",),
            "hyperband pauses trials, and a fused group trains its members in step; "
            "use scheduler asha, median or fifo",
        )


HYPERBAND_REDUCTION_FACTOR = 3


def hyperband_reduction_factor(spec: SweepSpec) -> float:
    return spec.scheduler.reduction_factor or HYPERBAND_REDUCTION_FACTOR


def hyperband_bracket_size(max_epochs: int, reduction_factor: float) -> int:
    """Trials in the largest bracket Ray's HyperBand builds, by Ray's own formulas: brackets
    s = 0 .. s_max_1 - 1 of ceil(s_max_1 / (s + 1) * rf**s) trials, less those whose first
    milestone, int(max_t * rf**-s), rounds to 0 epochs."""
    s_max_1 = round(math.log(max_epochs) / math.log(reduction_factor)) + 1
    return max(
        math.ceil(s_max_1 / (s + 1) * reduction_factor**s)
        for s in range(s_max_1)
        if int(max_epochs * reduction_factor**-s) > 0
    )


def _check_ranges(loaded: LoadedSpec, ranges: Mapping[str, Range]) -> None:
    """Every value the space can give a hyperparameter with a known range lies in it: a
    dropout rate of 1.5 or a width of 0 is refused here, not in a trial."""
    for name, param in loaded.spec.space.items():
        allowed = ranges.get(name)
        if allowed is None:
            continue
        values: list[tuple[tuple[str | int, ...], Any]]
        if isinstance(param, FloatParam | IntParam):
            values = [(("space", name, "low"), param.low), (("space", name, "high"), param.high)]
        elif isinstance(param, CategoricalParam):
            values = [(("space", name, "choices", i), c) for i, c in enumerate(param.choices)]
        else:
            values = [(("space", name), param.value)]
        for where, value in values:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and not allowed.admits(value):
                raise loaded.locate(where, f"{name} must be {allowed.describe()}, got {value:g}")


def _check_conditions(loaded: LoadedSpec) -> None:
    space = loaded.spec.space
    graph: dict[str, set[str]] = {}
    for name, param in space.items():
        graph[name] = set()
        for parent, wanted in (param.when or {}).items():
            where = ("space", name, "when", parent)
            if parent not in space:
                raise loaded.locate(
                    where,
                    f"condition on '{parent}', which is not in the space; "
                    f"parameters: {', '.join(space)}",
                )
            if parent == name:
                raise loaded.locate(where, "a parameter cannot be conditional on itself")
            target = space[parent]
            if not isinstance(target, CategoricalParam | ConstantParam):
                raise loaded.locate(
                    where,
                    f"conditions must name a categorical parameter; '{parent}' is {target.type}",
                )
            options = target.choices if isinstance(target, CategoricalParam) else [target.value]
            for value in wanted if isinstance(wanted, list) else [wanted]:
                if value not in options:
                    raise loaded.locate(
                        where,
                        f"{value!r} is not a choice of '{parent}' ({', '.join(map(str, options))})",
                    )
            graph[name].add(parent)
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        first = exc.args[1][0]
        raise loaded.locate(("space", first, "when"), f"conditions form a cycle: {cycle}") from None
