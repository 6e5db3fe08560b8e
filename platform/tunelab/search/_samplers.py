"""The spec's sampler, with tunelab's defaults for TPE (chosen by measurement: see
benchmarks/README.md)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tunelab.spec import Bound, SweepSpec

if TYPE_CHECKING:
    import optuna


def tpe_settings(spec: SweepSpec) -> dict[str, Any]:
    """TPESampler's arguments: the spec's, else tunelab's defaults."""
    s = spec.searcher
    startup = s.startup_trials if s.startup_trials is not None else 10
    multivariate = bool(s.multivariate)
    return {
        "n_startup_trials": startup,
        "multivariate": multivariate,
        # Conditional parameters are modelled per group of trials that sampled the same ones.
        "group": multivariate,
        "constant_liar": bool(s.constant_liar),
    }


def make_sampler(spec: SweepSpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded with the spec's seed (or `seed`: a resumed sweep's sampler
    is seeded anew, or it would propose again what it proposed first)."""
    import optuna

    seed = spec.seed if seed is None else seed
    name = spec.searcher.sampler
    if name == "tpe":
        # multivariate and group are experimental in Optuna; their warnings say only that.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, **tpe_settings(spec))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        # Categorical and conditional parameters fall back to the independent (random) sampler.
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    raise ValueError(f"unknown sampler {name!r}")  # unreachable: the spec schema limits the names


def constraint_values(
    constraints: Mapping[str, Bound], values: Mapping[str, Any]
) -> dict[str, float]:
    """How far `values` are outside each constraint (> 0), or inside (<= 0), by metric: what
    the searcher sets on a trial (Optuna's `Trial.set_constraint`) before it is told, and the
    samplers that learn constraints (tpe, nsga2, gp) read. A metric not reported counts as far
    outside (a large number: Optuna takes no infinity)."""
    out = {}
    for metric, bound in constraints.items():
        value = values.get(metric)
        ok = isinstance(value, int | float) and math.isfinite(value)
        out[metric] = bound.violation(float(value)) if ok else MISSING_VIOLATION  # type: ignore[arg-type]
    return out


MISSING_VIOLATION = 1e12
