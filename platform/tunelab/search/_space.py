"""The spec's space as an Optuna define-by-run function: parameters in dependency order, each
suggested only where its condition holds."""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any

from tunelab.spec import CategoricalParam, ConstantParam, FloatParam, IntParam, Param, SweepSpec

if TYPE_CHECKING:
    import optuna

# Each trial's torch seed is the sweep's seed plus the trial's number, so a trial is reproducible
# from its logged config alone.
SEED_KEY = "seed"


def sampling_order(space: Mapping[str, Param]) -> list[str]:
    """Parameters in the order they must be sampled: every condition's parent before its child,
    otherwise the order the spec lists them."""
    position = {name: i for i, name in enumerate(space)}
    sorter: TopologicalSorter[str] = TopologicalSorter(
        {name: set((param.when or {}).keys()) for name, param in space.items()}
    )
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


def is_active(param: Param, values: Mapping[str, Any]) -> bool:
    """A conditional parameter is active when each parent is active and has a wanted value."""
    for parent, wanted in (param.when or {}).items():
        if parent not in values:
            return False
        options = wanted if isinstance(wanted, list) else [wanted]
        if values[parent] not in options:
            return False
    return True


class DefineByRun:
    """A define-by-run function for Ray's OptunaSearch: suggests the active parameters and returns
    the constants (and the trial's seed), which Ray merges into the trial's config. A class, not
    a closure, because Ray pickles its searcher to checkpoint the sweep."""

    def __init__(self, space: Mapping[str, Param], seed: int) -> None:
        self.space = dict(space)
        self.order = sampling_order(space)
        self.seed = seed

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        values: dict[str, Any] = {}
        constants: dict[str, Any] = {SEED_KEY: self.seed + trial.number}
        for name in self.order:
            param = self.space[name]
            if not is_active(param, values):
                continue
            if isinstance(param, ConstantParam):
                values[name] = constants[name] = param.value
            elif isinstance(param, FloatParam):
                values[name] = trial.suggest_float(
                    name, param.low, param.high, step=param.step, log=param.log
                )
            elif isinstance(param, IntParam):
                values[name] = trial.suggest_int(
                    name, param.low, param.high, step=param.step, log=param.log
                )
            elif isinstance(param, CategoricalParam):
                values[name] = trial.suggest_categorical(name, param.choices)  # type: ignore[arg-type]
        return constants


def define_by_run(spec: SweepSpec) -> DefineByRun:
    return DefineByRun(spec.space, spec.seed)
