"""The sweep spec as typed data. Shape and per-field invariants live here; checks that need the
model and dataset registries live in `_checks.py`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from tunelab.spec._params import (
    Param,
    Scalar,
    _scalar_to_constant,
    _Strict,
)

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc", "nsga2")
SCHEDULERS = ("asha", "hyperband", "median", "fifo", "pbt", "pb2")
MAX_FUSION = 64  # members of one fused group, at most
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _shorthand(key: str) -> Any:
    def expand(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return BeforeValidator(expand)


def _sized(value: Any) -> Any:
    return (
        {"size": value} if isinstance(value, int | str) and not isinstance(value, bool) else value
    )


def _named(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _dataset_ref(value: Any) -> Any:
    if isinstance(value, str):
        looks_like_file = value.lower().endswith((".csv", ".npz")) or "/" in value
        return {"file": value} if looks_like_file else {"name": value}
    return value


class ModelRef(_Strict):
    """`model: cnn`, `model: mypkg.models:build`, or `model: {name: ..., options: {...}}`:
    options are fixed settings of the model that are not tuned (a transfer source, say)."""

    name: str = Field(min_length=1)
    options: dict[str, Scalar] = Field(default_factory=dict)


class DatasetRef(_Strict):
    """`dataset: digits`, `dataset: mypkg.data:load`, `dataset: data/train.csv`, or a mapping
    with `name` or `file` and `options` (a CSV's target column, the adding problem's length)."""

    name: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)
    options: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> DatasetRef:
        if (self.name is None) == (self.file is None):
            raise ValueError("give exactly one of name (a registered dataset) or file")
        return self

    @property
    def label(self) -> str:
        return self.name or self.file or ""


class Budget(_Strict):
    trials: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    # None: as many trials at once as the resources allow.
    concurrency: int | None = Field(default=None, ge=1)
    # Caps besides trials: at the first one reached no trial starts, and running trials stop
    # after their current epoch, with its checkpoint. Hours are trial time x the resources held.
    max_wall_s: float | None = Field(default=None, gt=0)
    max_cpu_hours: float | None = Field(default=None, gt=0)
    max_gpu_hours: float | None = Field(default=None, gt=0)
    # Epochs trained by all the trials together: compute counted the same on any machine.
    max_total_epochs: int | None = Field(default=None, ge=1)
    # A trial that reports no epoch for this long (a hung data loader, a deadlock) fails with
    # `timeout`, and the sweep goes on. Counted from its start, then from each report.
    trial_timeout_s: float | None = Field(default=None, gt=0)
    # Trials that wait this long for resources with none running (nodes the autoscaler cannot
    # bring: a quota, a full node pool) end the sweep with one line saying what they waited
    # for. None: they wait as long as it takes.
    pending_timeout_s: float | None = Field(default=None, gt=0)


class Searcher(_Strict):
    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc", "nsga2"] = "tpe"
    # TPE's settings; None: tunelab's measured defaults (tunelab.search.tpe_settings).
    # Trials sampled at random before TPE models the results.
    startup_trials: int | None = Field(default=None, ge=0)
    # Model the parameters jointly (and conditional groups apart) rather than one by one.
    multivariate: bool | None = None
    # Count running trials as bad results, so trials started together sample apart.
    constant_liar: bool | None = None
    # How a trial the scheduler stopped early is told to the sampler: as pruned, ranked after
    # every complete trial by how far it got (the default, measured in benchmarks/search.py),
    # or as complete, with the value it stopped at.
    stopped_trials: Literal["pruned", "complete"] = "pruned"
    # The same seed, the same sweep: trial n is proposed from the results of trials 0 .. n -
    # concurrency, told in trial order whatever order they ended in, and ASHA judges it against
    # those same trials, so which trial ended first cannot change what comes next. A slot
    # waits where an earlier trial is slower. Scheduler asha or fifo.
    reproducible: bool = False


class Scheduler(_Strict):
    type: Literal["asha", "hyperband", "median", "fifo", "pbt", "pb2"] = "asha"
    grace_period: int | None = Field(default=None, ge=1)
    reduction_factor: float | None = Field(default=None, gt=1)
    # asha: several grace periods at once (asynchronous Hyperband). Bracket s first stops trials
    # at grace_period * reduction_factor**s; a new trial joins a bracket at random, the ones
    # with more rungs more often. 1: plain ASHA.
    brackets: int | None = Field(default=None, ge=1)
    # asha: a rung stops no trial while the value a trial must beat there is still on the
    # plateau every trial starts on (what a model that learned nothing scores): not yet
    # `plateau` of the way from there to a perfect score. 0: plain ASHA. Only for the metrics
    # that level is known for (val_loss, val_accuracy, val_mse, val_mae); None: 0.1, measured
    # in benchmarks/search.py.
    plateau: float | None = Field(default=None, ge=0, lt=1)
    # Population based training (pbt, pb2): every `interval` epochs a trial in the bottom
    # `quantile` of the population goes on from the checkpoint and the hyperparameters of one in
    # the top quantile, then explores: the hyperparameters a trial can change as it trains
    # (learning rates, weight decay, momentum, dropout, clipping) move within the space. pbt
    # resamples one with `resample_probability`, else multiplies it by one of `perturbation`'s
    # factors (a categorical moves to a neighbouring choice); pb2 picks them with a GP bandit.
    interval: int | None = Field(default=None, ge=1)  # None: a quarter of budget.max_epochs
    quantile: float | None = Field(default=None, gt=0, le=0.5)  # None: 0.25
    resample_probability: float | None = Field(default=None, ge=0, le=1)  # None: 0.25
    perturbation: tuple[float, float] | None = None  # None: (0.8, 1.2)
    # true: the whole population is perturbed at once, at each interval, every trial paused
    # until the last gets there (Ray's synchronous PBT). Fast trials wait, but trials are
    # compared at the same epoch and every interval exploits: for short epochs, or trials that
    # start far apart (more trials than run at once, nodes the autoscaler brings). None: false,
    # each trial perturbed when it gets there, against the others' latest results.
    synchronous: bool | None = None

    @field_validator("perturbation")
    @classmethod
    def _perturbation(cls, factors: tuple[float, float] | None) -> tuple[float, float] | None:
        if factors is not None and not all(math.isfinite(f) and f > 0 for f in factors):
            raise ValueError(f"must be two factors > 0, got {list(factors)}")
        return factors

    @property
    def population_based(self) -> bool:
        return self.type in ("pbt", "pb2")


class Resources(_Strict):
    cpu: float = Field(default=1.0, gt=0)  # per worker
    gpu: float = Field(default=0.0, ge=0)  # per worker
    # Workers per trial: more than one trains each trial data-parallel (Ray Train, PyTorch's
    # DistributedDataParallel; gloo on CPUs, NCCL on GPUs), each worker on its part of every
    # batch and holding `cpu` and `gpu`.
    workers: int = Field(default=1, ge=1, le=1024)

    @property
    def trial_cpu(self) -> float:
        """The CPUs one trial holds, every worker's."""
        return self.cpu * self.workers

    @property
    def trial_gpu(self) -> float:
        """The GPUs one trial holds, every worker's."""
        return self.gpu * self.workers


class SystemMetrics(_Strict):
    # Seconds between samples of CPU, memory (and GPU) in each trial's process; 0 turns them off.
    interval_s: float = Field(default=10.0, ge=0)


class Failure(_Strict):
    # Times a trial whose worker or node died is restarted from its last checkpoint before it
    # fails. An error raised by the trial's own code (a builder bug, a NaN loss) is not retried.
    max_retries: int = Field(default=2, ge=0)


class Checkpoints(_Strict):
    # Per trial: the best N checkpoints by the metric, and always the latest (a retry and
    # `tunelab resume` go on from it); None keeps every epoch's.
    keep: int | None = Field(default=1, ge=1)


class Fusion(_Strict):
    # Trials that share an architecture and a batch size train K at a time as one model on
    # their group's resources, each with its own optimizer settings, dropout, seed and result.
    # "auto": K is picked when the sweep starts, from a short measurement on a trial's
    # resources (see sweeps/_fusion), or the trials run unfused if fusing does not pay there.
    size: Annotated[int, Field(ge=2, le=MAX_FUSION)] | Literal["auto"]

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, size: Any) -> Any:
        if isinstance(size, str) and size != "auto":
            raise ValueError(f"must be a number of trials from 2 to {MAX_FUSION}, or auto")
        return size

    @property
    def auto(self) -> bool:
        return self.size == "auto"

    @property
    def members(self) -> int:
        """K, once picked: a sweep replaces `auto` by what it measured before its trials start."""
        if self.size == "auto":
            raise ValueError("fusion: auto has not been measured yet")
        return self.size


def violations(constraints: Mapping[str, Bound], values: Mapping[str, float]) -> dict[str, float]:
    """The constraints `values` break, by metric: how far (> 0). A metric with no value (or
    NaN) breaks its constraint infinitely far."""
    out = {}
    for metric, bound in constraints.items():
        value = values.get(metric)
        far = math.inf if value is None or math.isnan(value) else bound.violation(value)
        if far > 0:
            out[metric] = far
    return out


class Objective(_Strict):
    metric: str
    mode: Literal["max", "min"]


class Bound(_Strict):
    """A constraint on a metric's value: at least `min`, at most `max` (either or both)."""

    min: float | None = None
    max: float | None = None

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @model_validator(mode="after")
    def _range(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"is empty: min {self.min:g} is above max {self.max:g}")
        return self

    def violation(self, value: float) -> float:
        """How far `value` is outside the bound (> 0), or inside it (<= 0): Optuna's form."""
        below = self.min - value if self.min is not None else -math.inf
        above = value - self.max if self.max is not None else -math.inf
        return max(below, above)

    def describe(self, metric: str) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min:g} <= {metric} <= {self.max:g}"
        return f"{metric} >= {self.min:g}" if self.min is not None else f"{metric} <= {self.max:g}"


def _objectives_first(data: Any) -> Any:
    """With `objectives`, the first one is also `metric`/`mode` (what the "best" trial goes by;
    ASHA ranks by all of them, see backend/_moasha)."""
    if not isinstance(data, dict) or "objectives" not in data:
        return data
    objectives = data["objectives"]
    if "metric" in data or "mode" in data:
        return data  # refused below
    data = dict(data)
    if isinstance(objectives, list) and objectives and isinstance(objectives[0], dict):
        data.setdefault("metric", objectives[0].get("metric"))
        data.setdefault("mode", objectives[0].get("mode"))
    return data


class SweepSpec(_Strict):
    name: str | None = None
    experiment: str = "tunelab"
    model: Annotated[ModelRef, BeforeValidator(_named)]
    dataset: Annotated[DatasetRef, BeforeValidator(_dataset_ref)]
    metric: str
    mode: Literal["max", "min"]
    # Two or more metrics to optimise at once (multi-objective); instead of metric and mode.
    objectives: list[Objective] = Field(default_factory=list)
    # Bounds a trial's last values must keep to, by metric: `{latency_ms: {max: 5}}`. A trial
    # that breaks one is infeasible: ranked after every feasible trial, and the sampler is told.
    constraints: dict[str, Bound] = Field(default_factory=dict)
    budget: Budget
    searcher: Annotated[Searcher, _shorthand("sampler")] = Searcher()
    scheduler: Annotated[Scheduler, _shorthand("type")] = Scheduler()
    resources: Resources = Resources()
    system_metrics: SystemMetrics = SystemMetrics()
    failure: Failure = Failure()
    checkpoints: Checkpoints = Checkpoints()
    fusion: Annotated[Fusion, BeforeValidator(_sized)] | None = None
    # Each trial's torch seed is this plus its number; numpy and torch take seeds below 2**32.
    seed: int = Field(default=0, ge=0, lt=2**32)
    space: Annotated[dict[str, Param], BeforeValidator(_scalar_to_constant)]

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not NAME_PATTERN.match(name):
            raise ValueError(
                f"must be letters, digits, '.', '_' or '-' (it names a folder), got {name!r}"
            )
        return name

    @model_validator(mode="before")
    @classmethod
    def _expand_objectives(cls, data: Any) -> Any:
        if isinstance(data, dict) and "objectives" in data and ("metric" in data or "mode" in data):
            raise ValueError("give either metric and mode, or objectives, not both")
        return _objectives_first(data)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, objectives: list[Objective]) -> list[Objective]:
        if len(objectives) == 1:
            raise ValueError("must list two or more metrics; for one, use metric and mode")
        names = [o.metric for o in objectives]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"lists '{name}' twice")
        return objectives

    @property
    def kept_metrics(self) -> tuple[str, ...]:
        """The metrics a trial's last values are kept of: the objectives', the constraints'."""
        names = [metric for metric, _ in self.targets]
        return (*names, *(m for m in self.constraints if m not in names))

    def violations(self, values: Mapping[str, float]) -> dict[str, float]:
        """The constraints `values` break, by metric: how far (> 0)."""
        return violations(self.constraints, values)

    @property
    def targets(self) -> list[tuple[str, str]]:
        """(metric, mode) of every objective: one, or the multi-objective list."""
        if self.objectives:
            return [(o.metric, o.mode) for o in self.objectives]
        return [(self.metric, self.mode)]

    @field_validator("space")
    @classmethod
    def _space(cls, space: dict[str, Param]) -> dict[str, Param]:
        if not space:
            raise ValueError("must define at least one parameter")
        return space
