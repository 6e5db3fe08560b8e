"""Multi-objective asynchronous successive halving (Schmucker et al., "Multi-objective
Asynchronous Successive Halving", 2021): ASHA's rungs, with a trial's place at a rung decided by
non-dominated sorting of the rung's results rather than by one metric.

At each rung (`grace_period` x `reduction_factor`**k epochs, below `max_t`) a trial goes on if
it is among the best ceil(n / reduction_factor) of the n trials recorded there, itself included,
in this order: feasible before infeasible (under the spec's constraints; infeasible ones by how
far outside), then by non-dominated front, then, within a front, by crowding distance (the
trials at the edges of the front and in its emptier stretches first, so the front keeps its
spread), then by trial order. Objectives measured once (`param_count`, `latency_ms`) are in
every result, so they count from the first rung. The plateau rule and trial order work as in
single-objective ASHA (see `TunelabBracket`), on the first objective."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tunelab.backend._callback import epoch_of
from tunelab.backend._events import EarlierResults, resumed_name
from tunelab.spec import Bound, violations

Point = tuple[float, ...]  # one trial's objectives, each to be minimised


def fronts(points: Sequence[Point]) -> list[int]:
    """Each point's non-dominated front: 0 for the points nothing dominates, 1 for those only
    front 0 dominates, and so on."""

    def dominates(a: Point, b: Point) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    left = set(range(len(points)))
    rank = [0] * len(points)
    level = 0
    while left:
        front = {i for i in left if not any(dominates(points[j], points[i]) for j in left)}
        for i in front:
            rank[i] = level
        left -= front
        level += 1
    return rank


def crowding(points: Sequence[Point], members: Sequence[int]) -> dict[int, float]:
    """The crowding distance of each of `members` (indices into `points`, one front): the
    sum over objectives of the gap between its neighbours on that objective, over the front's
    range; the two ends of each objective get infinity."""
    distance = dict.fromkeys(members, 0.0)
    if len(members) <= 2:
        return dict.fromkeys(members, math.inf)
    for objective in range(len(points[members[0]])):
        ordered = sorted(members, key=lambda i: points[i][objective])
        low, high = points[ordered[0]][objective], points[ordered[-1]][objective]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            gap = points[after][objective] - points[before][objective]
            distance[here] += gap / (high - low)
    return distance


def order(
    points: Sequence[Point],
    outside: Sequence[float] | None = None,
    tiebreak: Sequence[int] | None = None,
) -> list[int]:
    """Indices of `points`, best first: feasible (`outside` 0) before infeasible (the least
    far outside first), then by front, then by crowding distance (larger first), then by
    `tiebreak` (default: index)."""
    outside = list(outside or [0.0] * len(points))
    ties = list(tiebreak or range(len(points)))
    feasible = [i for i in range(len(points)) if outside[i] <= 0]
    rank = dict(zip(feasible, fronts([points[i] for i in feasible]), strict=True))
    spread: dict[int, float] = {}
    for level in set(rank.values()):
        spread.update(crowding(points, [i for i in feasible if rank[i] == level]))

    def key(i: int) -> tuple[bool, float, int, float, int]:
        if outside[i] > 0:
            return (True, outside[i], 0, 0.0, ties[i])
        return (False, 0.0, rank[i], -spread[i], ties[i])

    return sorted(range(len(points)), key=key)


class MultiObjectiveASHA(FIFOScheduler):
    """Asynchronous successive halving on several objectives (see the module's docstring).
    `targets`: (metric, mode) of each objective; `constraints`: the spec's; `plateau`: (the
    first objective's untrained level as a reward, and the reward a rung's cutoff must reach
    before it stops trials by it, the one below which a trial stops anyway), see
    `plateau_cutoffs`; `in_order`: a reproducible sweep's concurrency: trial n is judged
    against trials 0 .. n - in_order only."""

    def __init__(
        self,
        *,
        targets: Sequence[tuple[str, str]],
        max_t: int,
        grace_period: int = 1,
        reduction_factor: float = 3,
        constraints: Mapping[str, Bound] | None = None,
        plateau: tuple[float, float] | None = None,
        in_order: int | None = None,
    ) -> None:
        super().__init__()
        self.targets = list(targets)
        self.max_t, self.rf = max_t, reduction_factor
        self.constraints = dict(constraints or {})
        self.plateau, self.lag = plateau, in_order
        milestones, t = [], float(grace_period)
        while t < max_t:
            milestones.append(round(t))
            t *= reduction_factor
        # A trial's objectives and how far outside the constraints it was, at each rung.
        self.rungs: dict[int, dict[str, tuple[Point, float]]] = {m: {} for m in milestones}
        self.numbers: dict[str, int] = {}  # each trial's, in the order added
        # A resumed sweep's trials that go on: by name, their number and what each rung had.
        self.going_on: dict[str, tuple[int, dict[int, tuple[Point, float]]]] = {}

    def record_earlier(self, earlier: Sequence[EarlierResults]) -> None:
        """A resumed sweep's rungs as they were: each earlier trial's objectives at each rung
        it reached. The trials that go on are recorded under their new ids as Ray adds them,
        so no rung judges them twice."""
        for trial in earlier:
            reached = {
                milestone: (point, self.outside(trial.epochs[milestone]))
                for milestone in self.rungs
                if (point := self.point(trial.epochs.get(milestone, {}))) is not None
            }
            if trial.going_on:
                self.going_on[trial.name] = (trial.number, reached)
                continue
            key = f"earlier:{trial.name}"
            self.numbers[key] = trial.number
            for milestone, recorded in reached.items():
                self.rungs[milestone][key] = recorded

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # its metrics are the spec's objectives, given when it is made

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        name = resumed_name(trial)
        earlier = self.going_on.pop(name, None) if name else None
        if earlier is not None:
            number, reached = earlier
            self.numbers[trial.trial_id] = number
            for milestone, recorded in reached.items():
                self.rungs[milestone][trial.trial_id] = recorded
        self.numbers.setdefault(trial.trial_id, len(self.numbers))

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return self.judge(trial.trial_id, result)

    def judge(self, trial_id: str, result: Mapping[str, Any]) -> str:
        """CONTINUE or STOP, for a trial's result (recorded at the highest rung it has reached
        and not been judged at)."""
        epoch = epoch_of(dict(result))
        point = self.point(result)
        if point is None:
            return str(TrialScheduler.CONTINUE)  # not every objective reported: not judged
        self.numbers.setdefault(trial_id, len(self.numbers))
        for milestone in sorted(self.rungs, reverse=True):
            recorded = self.rungs[milestone]
            if epoch < milestone:
                continue
            if trial_id in recorded:
                break  # judged at the highest rung it has passed
            recorded[trial_id] = (point, self.outside(result))
            going_on = self.goes_on(trial_id, recorded)
            return str(TrialScheduler.CONTINUE if going_on else TrialScheduler.STOP)
        return str(TrialScheduler.CONTINUE)

    def outside(self, result: Mapping[str, Any]) -> float:
        """How far a result is outside the constraints, all told (0: within them)."""
        return sum(violations(self.constraints, result).values()) if self.constraints else 0.0

    def point(self, result: Mapping[str, Any]) -> Point | None:
        values = []
        for metric, mode in self.targets:
            value = result.get(metric)
            if not isinstance(value, int | float) or math.isnan(value):
                return None
            values.append(-float(value) if mode == "max" else float(value))
        return tuple(values)

    def goes_on(self, trial_id: str, recorded: Mapping[str, tuple[Point, float]]) -> bool:
        number = self.numbers[trial_id]
        seen = [
            t
            for t in recorded
            if t == trial_id or self.lag is None or self.numbers[t] <= number - self.lag
        ]
        if self.plateau is not None:
            level_and_leaves, worse = self.plateau
            first = [-recorded[t][0][0] for t in seen]  # the first objective, as a reward
            kept = math.ceil(len(seen) / self.rf)
            top = sorted(first, reverse=True)[kept - 1]
            if top < level_and_leaves:  # the rung's top is still on the plateau
                return -recorded[trial_id][0][0] >= worse  # only a diverging trial stops
        ranked = order(
            [recorded[t][0] for t in seen],
            [recorded[t][1] for t in seen],
            [self.numbers[t] for t in seen],
        )
        place = ranked.index(seen.index(trial_id))
        return place < math.ceil(len(seen) / self.rf)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        if result:
            self.judge(trial.trial_id, result)

    def debug_string(self) -> str:
        sizes = ", ".join(f"{m}: {len(r)}" for m, r in sorted(self.rungs.items()))
        return f"MultiObjectiveASHA: rungs (epoch: trials) {sizes}"
