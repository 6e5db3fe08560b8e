"""Checks that need more than the spec's shape: registries, the trial contract, conditions."""

from __future__ import annotations

import math
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

from tunelab.data import datasets
from tunelab.errors import NotFoundError
from tunelab.models import architectures
from tunelab.models._base import ACTIVATION_NAMES
from tunelab.spec._schema import CategoricalParam, ConstantParam, SweepSpec
from tunelab.training._contract import OPTIMIZERS, TASK_METRICS, TRAINER_HYPERPARAMETERS

if TYPE_CHECKING:
    from tunelab.spec._load import LoadedSpec

# Hyperparameters whose values are names: a typo is caught here, not in a trial.
NAMED_VALUES: dict[str, tuple[str, ...]] = {"optimizer": OPTIMIZERS, "activation": ACTIVATION_NAMES}


def check_spec(loaded: LoadedSpec) -> None:
    spec = loaded.spec
    try:
        arch = architectures.get(spec.model)
    except NotFoundError as exc:
        raise loaded.locate(("model",), str(exc)) from None
    try:
        dataset = datasets.get(spec.dataset)
    except NotFoundError as exc:
        raise loaded.locate(("dataset",), str(exc)) from None
    if dataset.task not in arch.tasks:
        raise loaded.locate(
            ("dataset",),
            f"model '{spec.model}' handles {', '.join(sorted(arch.tasks))} tasks; "
            f"'{spec.dataset}' is a {dataset.task} task",
        )
    reported = TASK_METRICS[dataset.task]
    if spec.metric not in reported:
        raise loaded.locate(
            ("metric",),
            f"'{spec.metric}' is never reported by model '{spec.model}' on '{spec.dataset}'; "
            f"it reports: {', '.join(reported)}",
        )

    known = {**TRAINER_HYPERPARAMETERS, **arch.hyperparameters}
    for name, param in spec.space.items():
        if name not in known:
            raise loaded.locate(
                ("space", name),
                f"not a hyperparameter of model '{spec.model}' or the trainer; "
                f"known: {', '.join(sorted(known))}",
            )
        allowed = NAMED_VALUES.get(name)
        if allowed:
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
    _check_conditions(loaded)

    scheduler = spec.scheduler
    if scheduler.grace_period is not None and scheduler.grace_period > spec.budget.max_epochs:
        raise loaded.locate(
            ("scheduler", "grace_period"),
            f"must be <= budget.max_epochs ({spec.budget.max_epochs}), got {scheduler.grace_period}",
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
