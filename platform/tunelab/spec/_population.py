"""Population based sweeps (`scheduler: pbt | pb2`): their settings, the hyperparameters they
change as trials train, and the checks a spec of one passes."""

from __future__ import annotations

from typing import Any

from tunelab.models import Architecture
from tunelab.spec._load import LoadedSpec
from tunelab.spec._params import ConstantParam, FloatParam, IntParam
from tunelab.spec._schema import SweepSpec
from tunelab.training import (
    trainer_of,
)

POPULATION_SETTINGS = (
    "interval",
    "quantile",
    "resample_probability",
    "perturbation",
    "synchronous",
)
PBT_QUANTILE, PBT_RESAMPLE_PROBABILITY, PBT_PERTURBATION = 0.25, 0.25, (0.8, 1.2)


def population_interval(spec: SweepSpec) -> int:
    """Epochs between a population based sweep's perturbations: `scheduler.interval`, else a
    quarter of `budget.max_epochs`."""
    return spec.scheduler.interval or max(1, spec.budget.max_epochs // 4)


def population_parameters(spec: SweepSpec, trainer: str) -> dict[str, Any]:
    """The space's parameters a population based scheduler changes as trials train: those of
    its trainer's `scheduled` the space searches (pb2: float and int ranges searched
    unconditionally, which its GP bandit models), by name."""
    scheduled = trainer_of(trainer).scheduled
    found: dict[str, Any] = {}
    for name, param in spec.space.items():
        if name not in scheduled or isinstance(param, ConstantParam):
            continue
        if spec.scheduler.type == "pb2" and (
            not isinstance(param, FloatParam | IntParam) or param.when is not None
        ):
            continue
        found[name] = param
    return found


def check_population(loaded: LoadedSpec, arch: Architecture) -> None:
    spec = loaded.spec
    scheduler = spec.scheduler
    for key in ("grace_period", "reduction_factor", "brackets"):
        if getattr(scheduler, key) is not None:
            raise loaded.locate(
                ("scheduler", key),
                f"is an asha setting; {scheduler.type} trains every trial to budget.max_epochs",
            )
    if scheduler.type == "pb2":
        for key in ("resample_probability", "perturbation"):
            if getattr(scheduler, key) is not None:
                raise loaded.locate(
                    ("scheduler", key),
                    "is a pbt setting; pb2 picks the new values with a GP bandit",
                )
    if scheduler.interval is not None and scheduler.interval >= spec.budget.max_epochs:
        raise loaded.locate(
            ("scheduler", "interval"),
            f"must be < budget.max_epochs ({spec.budget.max_epochs}), got {scheduler.interval}: "
            "a trial is perturbed after each interval it trains",
        )
    if spec.fusion is not None:
        raise loaded.locate(
            ("fusion",),
            f"{scheduler.type} pauses trials and moves checkpoints between them, and a fused "
            "group trains its members in step; use scheduler asha, median or fifo",
        )
    if not trainer_of(arch.trainer).scheduled:
        raise loaded.locate(
            ("scheduler", "type"),
            f"model '{arch.name}' trains with the {arch.trainer} trainer, whose "
            f"hyperparameters cannot change as it trains; use asha, median or fifo",
        )
    if not population_parameters(spec, arch.trainer):
        scheduled = ", ".join(trainer_of(arch.trainer).scheduled)
        kind = "as a float or int range without `when`" if scheduler.type == "pb2" else ""
        raise loaded.locate(
            ("scheduler", "type"),
            f"{scheduler.type} changes {scheduled} as trials train; the space searches none "
            f"of them{' ' + kind if kind else ''}",
        )
