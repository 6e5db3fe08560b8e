"""Multi-objective ASHA's rung decisions on hand-made results: non-dominated fronts, crowding
distance within a front, feasible before infeasible, the plateau, and trial order. Plain
functions and the scheduler driven without Ray."""

from __future__ import annotations

import itertools
import math
import random
from types import SimpleNamespace

import pytest

from tunelab.backend._moasha import MultiObjectiveASHA, crowding, fronts, order
from tunelab.spec import Bound

TARGETS = [("acc", "max"), ("size", "min")]


def test_fronts_peel_the_non_dominated_points_off_in_layers() -> None:
    points = [(1.0, 5.0), (2.0, 2.0), (5.0, 1.0), (3.0, 3.0), (6.0, 6.0), (2.0, 2.0)]
    assert fronts(points) == [0, 0, 0, 1, 2, 0]  # equal points do not dominate each other


def test_crowding_favours_the_ends_and_the_emptier_stretches_of_a_front() -> None:
    points = [(0.0, 10.0), (1.0, 9.0), (2.0, 8.0), (8.0, 2.0), (10.0, 0.0)]
    distance = crowding(points, range(5))
    assert distance[0] == distance[4] == math.inf
    assert distance[3] > distance[1]  # (8, 2) sits in the gap; (1, 9) among neighbours
    assert order(points) == [0, 4, 3, 2, 1]


def test_feasible_before_infeasible_whatever_the_front() -> None:
    points = [(0.0, 0.0), (5.0, 5.0), (6.0, 6.0), (1.0, 1.0)]
    assert order(points, outside=[3.0, 0.0, 0.0, 1.0]) == [1, 2, 3, 0]


def scheduler(**kwargs: object) -> MultiObjectiveASHA:
    return MultiObjectiveASHA(
        targets=TARGETS, max_t=9, grace_period=1, reduction_factor=3, **kwargs
    )  # type: ignore[arg-type]


def report(moasha: MultiObjectiveASHA, trial: str, epoch: int, acc: float, size: float) -> str:
    return moasha.judge(trial, {"acc": acc, "size": size, "training_iteration": epoch})


def test_a_dominated_trial_stops_and_a_trade_off_goes_on() -> None:
    moasha = scheduler()
    # Rung 1 keeps the best ceil(n / 3) of the n trials there, itself included.
    assert report(moasha, "small", 1, 0.80, 100) == "CONTINUE"  # alone: the best
    assert report(moasha, "dominated", 1, 0.70, 200) == "STOP"  # small beats it on both
    assert report(moasha, "worse", 1, 0.60, 950) == "STOP"
    assert report(moasha, "worst", 1, 0.50, 990) == "STOP"
    # Five trials, two go on: small and this one share front 0 (each better on one objective).
    assert report(moasha, "accurate", 1, 0.90, 900) == "CONTINUE"
    # Trials once judged at a rung are not judged there again; the next rung is at epoch 3.
    assert report(moasha, "small", 2, 0.10, 100) == "CONTINUE"
    assert report(moasha, "small", 3, 0.85, 100) == "CONTINUE"
    assert report(moasha, "accurate", 3, 0.70, 900) == "STOP"  # small dominates it now
    assert sorted(moasha.rungs) == [1, 3]  # 9 epochs is the end, not a rung


POINTS = {
    "low": (0.50, 10),
    "high": (0.90, 1000),
    "mid": (0.70, 100),
    "crowded": (0.705, 102),
    "isolated": (0.80, 400),
    "dominated-1": (0.40, 500),
    "dominated-2": (0.45, 600),
}


@pytest.mark.parametrize(
    ("last", "expected"),
    [("isolated", "CONTINUE"), ("crowded", "STOP"), ("mid", "STOP"), ("high", "CONTINUE")],
)
def test_within_a_front_the_crowded_trial_stops_first(last: str, expected: str) -> None:
    # Five trials share front 0; of the seven, three go on: the two ends of the front and the
    # one in its emptiest stretch, whichever reported last.
    moasha = scheduler()
    for trial, (acc, size) in POINTS.items():
        if trial != last:
            report(moasha, trial, 1, acc, size)
    assert report(moasha, last, 1, *POINTS[last]) == expected


def test_a_trial_outside_the_constraints_stops_before_any_feasible_one() -> None:
    moasha = scheduler(constraints={"size": Bound(max=500)})
    assert report(moasha, "fits", 1, 0.6, 400) == "CONTINUE"
    # The best on every objective but size: outside, so ranked after the feasible trial.
    assert report(moasha, "too-big", 1, 0.99, 600) == "STOP"


def test_on_the_plateau_a_rung_stops_no_trial_but_a_diverging_one() -> None:
    # acc's untrained level is 0.33 (as a reward, higher is better): a rung stops trials by
    # rank once its top has gone past 0.4, and a trial below 0.26 stops anyway.
    moasha = scheduler(plateau=(0.40, 0.26))
    assert report(moasha, "a", 1, 0.34, 100) == "CONTINUE"
    assert report(moasha, "b", 1, 0.33, 900) == "CONTINUE"  # dominated, but on the plateau
    assert report(moasha, "c", 1, 0.10, 50) == "STOP"  # diverging
    assert report(moasha, "d", 1, 0.60, 10) == "CONTINUE"
    # Of five, two go on: the second best (0.35) is what a trial must beat, still on it.
    assert report(moasha, "e", 1, 0.35, 200) == "CONTINUE"
    # Of six, two go on; the second best is this one (0.55): the rung has left the plateau, and
    # by fronts it is second (d beats it on both, it beats the rest).
    assert report(moasha, "f", 1, 0.55, 20) == "CONTINUE"
    report(moasha, "g", 1, 0.50, 30)
    # Ranked by fronts, this one (d, f and g beat it on both) stops.
    assert report(moasha, "h", 1, 0.36, 150) == "STOP"


@pytest.mark.parametrize("seed", range(3))
def test_in_trial_order_the_decisions_do_not_depend_on_which_result_came_first(seed: int) -> None:
    rng = random.Random(seed)
    results = [(f"t{n}", rng.random(), rng.randrange(10, 1000)) for n in range(12)]

    def decisions(arrival: list[tuple[str, float, int]]) -> dict[str, str]:
        moasha = scheduler(in_order=3)
        for trial, _, _ in results:  # added in trial order, as Ray adds them
            moasha.on_trial_add(None, SimpleNamespace(trial_id=trial))
        return {t: report(moasha, t, 1, acc, size) for t, acc, size in arrival}

    first = decisions(results)
    for shuffled in itertools.islice(itertools.permutations(results), 1, 40, 7):
        # A trial reports only after the ones 3 before it have (a slot frees for it then).
        arrival = sorted(shuffled, key=lambda r: int(r[0][1:]) // 3)
        assert decisions(arrival) == first
