"""Warm start: an earlier sweep's finished trials become the new sweep's search history.

Ray's OptunaSearch cannot combine a define-by-run space with evaluated rewards, so the new
sweep's Optuna study is created first, through Optuna's own API, holding the earlier trials; the
searcher then loads it (it opens its study with `load_if_exists`). Each earlier trial is checked
against the new space as the define-by-run function would sample it: conditional parameters
count only where their condition holds. A trial with a value outside the new bounds, or missing
a parameter the new space needs, is skipped and counted, never clipped."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.errors import TunelabError
from tunelab.search._space import is_active, sampling_order
from tunelab.spec import CategoricalParam, ConstantParam, FloatParam, IntParam, Param, SweepSpec
from tunelab.tracking.tags import ATTR_WARM_START_FROM

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class WarmStart:
    source: str
    imported: int
    out_of_bounds: int  # trials skipped: a value outside the new space's bounds or choices
    incomplete: int  # trials skipped: a parameter the new space needs is not in them

    def describe(self) -> str:
        skipped = []
        if self.out_of_bounds:
            skipped.append(f"{self.out_of_bounds} outside the new space's bounds")
        if self.incomplete:
            skipped.append(f"{self.incomplete} missing a parameter the new space needs")
        tail = f"; skipped {', '.join(skipped)}" if skipped else ""
        return f"warm start: {self.imported} finished trials of sweep {self.source}{tail}"


def source_study(spec: SweepSpec, source: str, source_storage: Any) -> optuna.Study:
    """The earlier sweep's study, checked to optimise what this spec does."""
    import optuna

    try:
        old = optuna.load_study(study_name=source, storage=source_storage)
    except KeyError:
        raise TunelabError(f"--warm-start: no sweep named {source!r} has a study here") from None
    if list(old.directions) != study_directions(spec):
        raise TunelabError(
            f"--warm-start: sweep {source!r} optimised {len(old.directions)} objective(s) in "
            f"other directions than this spec's {', '.join(f'{m} ({d})' for m, d in spec.targets)}"
        )
    return old


def study_directions(spec: SweepSpec) -> list[optuna.study.StudyDirection]:
    from optuna.study import StudyDirection

    return [
        StudyDirection.MAXIMIZE if mode == "max" else StudyDirection.MINIMIZE
        for _, mode in spec.targets
    ]


def seed_study(spec: SweepSpec, *, sweep: str, storage: Any, old: optuna.Study) -> WarmStart:
    """Create the study `sweep` in `storage` holding the finished trials of `old` that fit."""
    import optuna

    source = old.study_name
    directions = study_directions(spec)
    study = optuna.create_study(
        study_name=sweep, storage=storage, directions=directions, load_if_exists=True
    )
    distributions = {
        name: distribution(param)
        for name, param in spec.space.items()
        if not isinstance(param, ConstantParam)
    }
    imported = out_of_bounds = incomplete = 0
    # Trials stopped early come as pruned, with the values they reported each epoch, so the
    # sampler ranks them as it did in the earlier sweep: after the complete ones.
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for trial in old.get_trials(deepcopy=False, states=finished):
        verdict, params = _fit(spec.space, distributions, trial.params)
        if verdict == "out_of_bounds":
            out_of_bounds += 1
        elif verdict == "incomplete":
            incomplete += 1
        else:
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions={name: distributions[name] for name in params},
                    values=trial.values,
                    state=trial.state,
                    intermediate_values=trial.intermediate_values,
                    user_attrs={ATTR_WARM_START_FROM: f"{source}#{trial.number}"},
                )
            )
            imported += 1
    return WarmStart(source, imported, out_of_bounds, incomplete)


def _fit(
    space: dict[str, Param],
    distributions: dict[str, optuna.distributions.BaseDistribution],
    old: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """("ok", the params the new space would have sampled), or why the trial does not fit."""
    params: dict[str, Any] = {}
    values: dict[str, Any] = {}  # every active value, constants included, for conditions
    for name in sampling_order(space):
        param = space[name]
        if not is_active(param, values):
            continue
        if isinstance(param, ConstantParam):
            values[name] = param.value
            continue
        if name not in old:
            return "incomplete", {}
        if not contains(param, old[name]):
            return "out_of_bounds", {}
        params[name] = values[name] = old[name]
    return "ok", params


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution the define-by-run function samples `param` from."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step or 1)
    if isinstance(param, CategoricalParam):
        return CategoricalDistribution(param.choices)  # type: ignore[arg-type]
    raise TypeError(f"no distribution for {type(param).__name__}")


def contains(param: Param, value: Any) -> bool:
    """Whether the new space could have sampled `value` for `param`."""
    if isinstance(param, CategoricalParam):
        return value in param.choices
    if isinstance(param, FloatParam | IntParam):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not param.low <= value <= param.high:
            return False
        if isinstance(param, IntParam) and value != int(value):
            return False
        if param.step:
            steps = (value - param.low) / param.step
            return math.isclose(steps, round(steps), abs_tol=1e-8)
        return True
    return False
