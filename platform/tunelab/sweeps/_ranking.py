"""Which trials are best: by the sweep's metric, or on the Pareto front of its objectives;
feasible trials (within every constraint of the spec) before any infeasible one. Plain
functions of the sweep's state."""

from __future__ import annotations

import math
from collections.abc import Mapping

from tunelab.spec import Bound, violations
from tunelab.sweeps._state import FINISHED, SweepState, TrialRecord

TOP_TRIALS = 10  # listed in sweep_summary.json, with their models logged


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether `value` beats `best` (None: nothing yet) in direction `mode`; never when NaN."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def broken(record: TrialRecord, constraints: Mapping[str, Bound] | None) -> dict[str, float]:
    """The constraints a trial's last values break, by metric: how far. Empty: feasible."""
    return violations(constraints, record.last_values) if constraints else {}


def ranked_trials(
    state: SweepState, mode: str, constraints: Mapping[str, Bound] | None = None
) -> list[str]:
    """Finished trials (completed or stopped early) with a metric, best first: every feasible
    trial by its value, then the infeasible ones, least far outside the constraints first. A
    failed trial is never ranked, whatever it reported before failing."""
    finished = []
    for trial_id, record in state.trials.items():
        if record.outcome in FINISHED and record.last_value is not None:
            value = record.last_value if mode == "min" else -record.last_value
            outside = sum(broken(record, constraints).values())
            # Ties go to the trial started first (by name), not to whichever ended first.
            finished.append(((outside > 0, outside, value, record.name), trial_id))
    finished.sort()
    return [trial_id for _, trial_id in finished]


def best_trial(
    state: SweepState, mode: str, constraints: Mapping[str, Bound] | None = None
) -> str | None:
    """The best ranked trial that left a checkpoint (an infeasible one only if none is
    feasible)."""
    return next(
        (
            t
            for t in ranked_trials(state, mode, constraints)
            if state.trials[t].checkpoint is not None
        ),
        None,
    )


def pareto_front(
    state: SweepState,
    targets: list[tuple[str, str]],
    constraints: Mapping[str, Bound] | None = None,
) -> list[str]:
    """Feasible finished trials that no other feasible one beats on every objective (and
    strictly on one), in the order of the first objective. No feasible trial: no front."""
    ranked = ranked_trials(state, targets[0][1], constraints)
    scores = {}
    for trial_id in ranked:
        record = state.trials[trial_id]
        values = record.last_values
        if all(metric in values for metric, _ in targets) and not broken(record, constraints):
            # Minimise everything: negate what is maximised.
            scores[trial_id] = [
                -values[metric] if mode == "max" else values[metric] for metric, mode in targets
            ]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return [
        trial_id
        for trial_id, score in scores.items()
        if not any(dominates(other, score) for o, other in scores.items() if o != trial_id)
    ]
