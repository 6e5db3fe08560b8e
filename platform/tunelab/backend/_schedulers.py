"""The scheduler as Ray Tune runs it: Ray's schedulers by the spec's name, ASHA seeded by the
sweep (its brackets drawn from the seed, its rungs in trial order for a reproducible sweep, and
held again across a resume), and the plateau rule its rungs wait out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    TrialScheduler,
)
from ray.tune.schedulers.async_hyperband import _Bracket

from tunelab.backend._events import (
    EarlierResults,
    resumed_name,
)
from tunelab.backend._moasha import MultiObjectiveASHA
from tunelab.spec import SweepSpec, hyperband_reduction_factor

if TYPE_CHECKING:
    pass


def make_scheduler(
    spec: SweepSpec,
    sweep: str = "",
    trainer: str = "supervised",
    untrained: Mapping[str, tuple[float, float]] | None = None,
    concurrency: int = 1,
    earlier: Sequence[EarlierResults] = (),
) -> TrialScheduler:
    """The spec's scheduler. A population based one (pbt, pb2) tells the sweep `sweep` of each
    exploit, and changes the hyperparameters `trainer` can change as it trains. `untrained`:
    what a model that learned nothing scores, and a perfect one, by metric (ASHA's plateau).
    `concurrency`: trials at once (a reproducible sweep's ASHA judges in trial order).
    `earlier`: a resumed sweep's trials, whose results ASHA's rungs hold again."""
    s, max_epochs = spec.scheduler, spec.budget.max_epochs
    if s.population_based:
        from tunelab.backend._population import population_scheduler

        return population_scheduler(spec, sweep, trainer)
    if s.type == "asha" and spec.objectives:
        moasha = MultiObjectiveASHA(
            targets=spec.targets,
            max_t=max_epochs,
            grace_period=s.grace_period or 1,
            reduction_factor=s.reduction_factor or 3,
            constraints=spec.constraints,
            plateau=plateau_cutoffs(spec, untrained or {}),
            in_order=concurrency if spec.searcher.reproducible else None,
        )
        moasha.record_earlier(earlier)
        return moasha
    if s.type == "asha":
        asha = SeededASHA(
            time_attr="training_iteration",
            max_t=max_epochs,
            grace_period=s.grace_period or 1,
            reduction_factor=s.reduction_factor or 3,
            brackets=s.brackets or 1,
            seed=spec.seed,
            plateau=plateau_cutoffs(spec, untrained or {}),
            in_order=concurrency if spec.searcher.reproducible else None,
        )
        asha.record_earlier(earlier, spec.metric, spec.mode)
        return asha
    if s.type == "hyperband":
        return HyperBandScheduler(
            time_attr="training_iteration",
            max_t=max_epochs,
            reduction_factor=hyperband_reduction_factor(spec),
        )
    if s.type == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=s.grace_period or 1, min_samples_required=3
        )
    return FIFOScheduler()


# ASHA's plateau when a spec sets none: the one setting that reached random search's best in
# every seed on the adding specs, and lost no seed on the other nine (benchmarks/README.md).
DEFAULT_PLATEAU = 0.1


def plateau_cutoffs(
    spec: SweepSpec, untrained: Mapping[str, tuple[float, float]]
) -> tuple[float, float] | None:
    """ASHA's plateau (`scheduler.plateau`), as rewards (Ray's ASHA: higher is better, the metric
    times -1 when it is minimized): (the reward a rung's cutoff must reach before the rung stops
    trials by it, the one below which a trial stops anyway: as far below learning nothing). None:
    plain ASHA (no plateau set, or a metric whose untrained level is not known)."""
    margin = spec.scheduler.plateau
    if margin is None:
        margin = DEFAULT_PLATEAU
    if not margin or spec.metric not in untrained:
        return None
    level, ideal = untrained[spec.metric]
    sign = 1.0 if spec.mode == "max" else -1.0
    reach = sign * margin * (ideal - level)  # > 0: the way to go, as a reward
    return sign * level + reach, sign * level - reach


class TunelabBracket(_Bracket):
    """An ASHA bracket with two of tunelab's rules, each optional.

    The plateau (`leaves`, `worse`): a rung stops no trial while the cutoff (the top
    1/reduction_factor of the rung's results) is still on the plateau: then every result there
    is noise around what a model that learned nothing scores, and ranking by it keeps random
    trials. Only a trial clearly worse than learning nothing (diverging) stops there. Once a
    rung's top has left the plateau, it is plain ASHA's, and stops the trials still on it.

    Trial order (`lag`, a reproducible sweep's concurrency): trial n is judged at a rung against
    the trials that had ended when it was proposed, 0 .. n - lag, not whichever reached the
    rung first; so the trials it stops depend on the results only, not on timing."""

    def __init__(
        self,
        *args: Any,
        leaves: float | None = None,
        worse: float | None = None,
        numbers: Mapping[str, int] | None = None,
        lag: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.leaves, self.worse = leaves, worse
        self.numbers, self.lag = numbers, lag
        self.judged: int | None = None  # the number of the trial being judged

    def on_result(self, trial: Any, cur_iter: int, cur_rew: float | None) -> str:
        if self.numbers is not None:
            self.judged = self.numbers[trial.trial_id]
        return str(super().on_result(trial, cur_iter, cur_rew))

    def cutoff(self, recorded: dict[str, float]) -> float | None:  # type: ignore[override]
        if self.numbers is not None and self.lag is not None and self.judged is not None:
            seen = self.judged - self.lag
            recorded = {k: v for k, v in recorded.items() if self.numbers[k] <= seen}
        if not recorded:
            return None
        cutoff = float(np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100))
        if self.leaves is None or self.worse is None or cutoff >= self.leaves:
            return cutoff
        return min(cutoff, self.worse)


class SeededASHA(ASHAScheduler):
    """Ray's ASHA, whose trials join their brackets (`brackets` > 1) by the sweep's seed rather
    than numpy's global state, so that a seeded sweep stops the same trials when run again;
    with `plateau` (see plateau_cutoffs), its brackets wait out the plateau trials start on;
    with `in_order` (a reproducible sweep's concurrency), its rungs judge in trial order (see
    TunelabBracket)."""

    def __init__(
        self,
        *,
        grace_period: int,
        max_t: int,
        reduction_factor: float,
        brackets: int,
        seed: int | None,
        plateau: tuple[float, float] | None = None,
        in_order: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            grace_period=grace_period,
            max_t=max_t,
            reduction_factor=reduction_factor,
            brackets=brackets,
            **kwargs,
        )
        self._rng = np.random.default_rng(seed)
        self._numbers: dict[str, int] = {}  # each trial's, in the order trials were added
        # A resumed sweep's trials that go on: by name, their number and rewards at each rung.
        self._going_on: dict[str, tuple[int, _Bracket, dict[float, float]]] = {}
        leaves, worse = plateau if plateau is not None else (None, None)
        self._brackets = [
            TunelabBracket(
                grace_period,
                max_t,
                reduction_factor,
                s,
                stop_last_trials=self._stop_last_trials,
                leaves=leaves,
                worse=worse,
                numbers=self._numbers if in_order is not None else None,
                lag=in_order,
            )
            for s in range(brackets)
        ]

    def record_earlier(self, earlier: Sequence[EarlierResults], metric: str, mode: str) -> None:
        """A resumed sweep's rungs as they were: each earlier trial's `metric` at each rung it
        reached, in the bracket it was in. The trials that go on are recorded under their new
        ids as Ray adds them, so no rung judges them twice. A trial's bracket is the seed's
        draw for its number (the draws depend on nothing else), so they are drawn again in
        number order, and the trials to come draw on where the first run would have."""
        sign = 1.0 if mode == "max" else -1.0
        drawn = [self._draw() for _ in range(max((t.number + 1 for t in earlier), default=0))]
        for trial in earlier:
            bracket = drawn[trial.number]
            rewards = {
                milestone: sign * trial.epochs[math.ceil(milestone)][metric]
                for milestone, _ in bracket._rungs
                if metric in trial.epochs.get(math.ceil(milestone), {})
            }
            if trial.going_on:
                self._going_on[trial.name] = (trial.number, bracket, rewards)
                continue
            key = f"earlier:{trial.name}"
            self._numbers[key] = trial.number
            for milestone, recorded in bracket._rungs:
                if milestone in rewards:
                    recorded[key] = rewards[milestone]

    def _draw(self) -> _Bracket:
        """The bracket the next trial joins: Ray's weights (a softmax of each bracket's number
        of rungs), drawn from the sweep's seed."""
        if len(self._brackets) == 1:
            return self._brackets[0]
        rungs = np.array([len(b._rungs) for b in self._brackets])
        weights = np.exp(rungs - rungs.max())
        return self._brackets[self._rng.choice(len(self._brackets), p=weights / weights.sum())]

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        name = resumed_name(trial)
        earlier = self._going_on.pop(name, None) if name else None
        if earlier is not None:
            self._numbers[trial.trial_id] = earlier[0]
        self._numbers.setdefault(trial.trial_id, len(self._numbers))
        super().on_trial_add(tune_controller, trial)
        bracket = earlier[1] if earlier is not None else self._draw()
        self._trial_info[trial.trial_id] = bracket
        if earlier is not None:
            for milestone, recorded in bracket._rungs:
                if milestone in earlier[2]:
                    recorded[trial.trial_id] = earlier[2][milestone]
