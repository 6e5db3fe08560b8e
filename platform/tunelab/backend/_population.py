"""Population based training (the spec's `scheduler: pbt` and `pb2`), on Ray Tune's schedulers.

Every `interval` epochs a trial in the population's bottom quantile exploits one in the top
quantile: it goes on from that trial's latest checkpoint, with its hyperparameters explored.
tunelab adds three things to Ray's schedulers:
- exploring stays within the spec's space (`explore`): a range's value is resampled or
  multiplied by a factor and clipped to the range, a choice moves to a neighbouring one, and
  only the hyperparameters a trial can change as it trains are touched;
- the exploiting trial goes on from a copy of the checkpoint in its own folder, so the source
  trial's checkpoint retention cannot delete it first, and the weights it started from stay
  with it;
- each exploit is told to the sweep (TrialEvents.trial_exploited), which records the lineage."""

from __future__ import annotations

import copy
import logging
import math
import random
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ray.train._internal.session import _TrainingResult
from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.schedulers.pb2 import PB2

from tunelab.backend._callback import epoch_of
from tunelab.backend._events import EPOCH_KEY, EXPLOIT_KEY
from tunelab.backend._live import live
from tunelab.spec import (
    PBT_PERTURBATION,
    PBT_QUANTILE,
    PBT_RESAMPLE_PROBABILITY,
    CategoricalParam,
    FloatParam,
    IntParam,
    SweepSpec,
    population_interval,
    population_parameters,
)

SpaceParam = FloatParam | IntParam | CategoricalParam
logger = logging.getLogger(__name__)


def explore(
    config: Mapping[str, Any],
    params: Mapping[str, SpaceParam],
    rng: random.Random,
    *,
    resample_probability: float,
    perturbation: Sequence[float],
) -> dict[str, Any]:
    """`config` with each of `params` it holds resampled from its range or choices (with
    `resample_probability`), else moved: a number times one of the `perturbation` factors,
    clipped to its range; a choice to a neighbouring one."""
    new = dict(config)
    for name, param in params.items():
        if name not in new:  # conditional, and off in this configuration
            continue
        if rng.random() < resample_probability:
            new[name] = sample(param, rng)
        elif isinstance(param, CategoricalParam):
            index = _index(param.choices, new[name])
            step = rng.choice((-1, 1))
            new[name] = param.choices[min(len(param.choices) - 1, max(0, index + step))]
        else:
            new[name] = within(param, float(new[name]) * rng.choice(list(perturbation)))
    return new


def sample(param: SpaceParam, rng: random.Random) -> Any:
    if isinstance(param, CategoricalParam):
        return rng.choice(param.choices)
    if param.log:
        value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    else:
        value = rng.uniform(param.low, param.high)
    return within(param, value)


def within(param: FloatParam | IntParam, value: float) -> float | int:
    """`value` clipped to the range, on its step's grid, an int for an int range."""
    value = min(param.high, max(param.low, value))
    if isinstance(param, IntParam):
        steps = round((value - param.low) / param.step)
        return int(min(param.high, param.low + steps * param.step))
    if param.step is not None:
        steps = round((value - param.low) / param.step)
        return min(param.high, param.low + steps * param.step)
    return value


def _index(choices: Sequence[Any], value: Any) -> int:
    for index, choice in enumerate(choices):
        if type(choice) is type(value) and choice == value:
            return index
    return 0


def _kept_as_is(config: dict[str, Any]) -> dict[str, Any]:
    return config  # Ray's PBT needs an explore function; tunelab's is `explore`, above


class _Lineage:
    """What both schedulers add to Ray's: the copy of the exploited checkpoint, and the event.
    Pickled with the experiment: the sweep's name and plain settings."""

    sweep: str
    exploit_counts: dict[str, int]  # by trial id
    _trial_state: dict[Trial, Any]

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        # Ray's PBT refuses a searcher, whose trials' configurations it changes. tunelab's
        # Optuna study holds each trial's first configuration and is told its final result;
        # the trial's run records what it trained with after (its schedule and lineage).
        super().on_trial_add(_WithoutSearcher(tune_controller), trial)  # type: ignore[misc]

    def _exploit(self, tune_controller: Any, trial: Trial, trial_to_clone: Trial) -> None:
        source = self._trial_state[trial_to_clone]
        at_epoch = epoch_of(self._trial_state[trial].last_result or {})
        # The trial goes on from a copy of the source's checkpoint in its own folder, named in
        # its config (see run_trial): the source's own may be deleted by its retention before
        # this trial restarts, and a save of the trial's own, processed after this, replaces
        # Ray's pointer to it. Copied first: if it cannot be, the trial goes on as it was.
        count = self.exploit_counts.get(trial.trial_id, 0) + 1
        name = f"checkpoint_exploit_{count:03d}"
        try:
            own = copy_into(source.last_checkpoint, trial, name)
        except Exception as exc:
            logger.warning("%s goes on without exploiting %s: %s", trial, trial_to_clone, exc)
            return
        self.exploit_counts[trial.trial_id] = count
        super()._exploit(tune_controller, trial, trial_to_clone)  # type: ignore[misc]
        trial.set_config({**trial.config, EXPLOIT_KEY: name})
        manager = trial.run_metadata.checkpoint_manager
        assert manager is not None  # Ray's own exploit used it just now
        manager._latest_checkpoint_result = _TrainingResult(
            checkpoint=own, metrics=source.last_result
        )
        live(self.sweep).events.trial_exploited(
            trial.trial_id,
            trial_to_clone.trial_id,
            epoch=at_epoch,
            source_epoch=epoch_of(source.last_result or {}),
            config=dict(trial.config),
            values=dict(source.last_result or {}),
            source_checkpoint=str(source.last_checkpoint.path).rstrip("/").rsplit("/", 1)[-1],
        )


class _WithoutSearcher:
    """The Tune controller as PBT's check for a searcher sees it: without one."""

    search_alg = None

    def __init__(self, controller: Any) -> None:
        self._controller = controller

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)


def copy_into(checkpoint: Any, trial: Trial, name: str) -> Any:
    """A copy of `checkpoint` in `trial`'s folder, on the storage Ray keeps it on."""
    import pyarrow.fs

    storage = trial.storage
    assert storage is not None  # set once the trial was added to the run
    destination = f"{storage.trial_fs_path}/{name}"
    storage.storage_filesystem.create_dir(destination)
    pyarrow.fs.copy_files(
        checkpoint.path,
        destination,
        source_filesystem=checkpoint.filesystem,
        destination_filesystem=storage.storage_filesystem,
    )
    return type(checkpoint)(path=destination, filesystem=storage.storage_filesystem)


class TunelabPBT(_Lineage, PopulationBasedTraining):
    def __init__(
        self,
        sweep: str,
        params: Mapping[str, SpaceParam],
        *,
        seed: int,
        resample_probability: float,
        perturbation: Sequence[float],
        **kwargs: Any,
    ) -> None:
        super().__init__(custom_explore_fn=_kept_as_is, **kwargs)
        self.sweep, self.params, self.exploit_counts = sweep, dict(params), {}
        self.rng = random.Random(seed)
        self.resample, self.factors = resample_probability, tuple(perturbation)

    def _get_new_config(self, trial: Trial, trial_to_clone: Trial) -> tuple[dict, dict]:
        config = explore(
            copy.deepcopy(trial_to_clone.config),
            self.params,
            self.rng,
            resample_probability=self.resample,
            perturbation=self.factors,
        )
        return config, {}


class TunelabPB2(_Lineage, PB2):
    def __init__(self, sweep: str, params: Mapping[str, FloatParam | IntParam], **kwargs: Any):
        bounds: dict[str, Any] = {name: [p.low, p.high] for name, p in params.items()}
        super().__init__(hyperparam_bounds=bounds, **kwargs)
        self.sweep, self.params, self.exploit_counts = sweep, dict(params), {}

    def _get_new_config(self, trial: Trial, trial_to_clone: Trial) -> tuple[dict, dict]:
        with warnings.catch_warnings():  # its GP's fit on a handful of points: nothing to act on
            warnings.simplefilter("ignore")
            config, operations = super()._get_new_config(trial, trial_to_clone)
        for name, param in self.params.items():  # GP's picks on the range's grid, as numbers
            config[name] = within(param, float(config[name]))
        return config, operations


def population_scheduler(spec: SweepSpec, sweep: str, trainer: str) -> PopulationBasedTraining:
    """The spec's pbt or pb2 scheduler, perturbing what `population_parameters` names."""
    s = spec.scheduler
    common: dict[str, Any] = {
        "time_attr": EPOCH_KEY,
        "perturbation_interval": population_interval(spec),
        "quantile_fraction": s.quantile or PBT_QUANTILE,
        "require_attrs": True,
        "synch": bool(s.synchronous),
        "log_config": False,  # the lineage is in the runs' tags (see the sweep's recorder)
    }
    params = population_parameters(spec, trainer)
    if s.type == "pb2":
        return TunelabPB2(sweep, params, **common)
    return TunelabPBT(
        sweep,
        params,
        seed=spec.seed,
        resample_probability=(
            s.resample_probability
            if s.resample_probability is not None
            else PBT_RESAMPLE_PROBABILITY
        ),
        perturbation=s.perturbation or PBT_PERTURBATION,
        **common,
    )
