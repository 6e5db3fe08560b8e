"""Which trials are best: by the sweep's metric, or on the Pareto front of its objectives.
Plain functions of the sweep's state."""

from __future__ import annotations

import math

from tunelab.sweeps._state import FINISHED, SweepState

TOP_TRIALS = 10  # listed in sweep_summary.json, with their models logged


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether `value` beats `best` (None: nothing yet) in direction `mode`; never when NaN."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def ranked_trials(state: SweepState, mode: str) -> list[str]:
    """Finished trials (completed or stopped early) with a metric, best first. A failed trial is
    never ranked, whatever it reported before failing."""
    finished = [
        (trial_id, record.last_value, record.name)
        for trial_id, record in state.trials.items()
        if record.outcome in FINISHED and record.last_value is not None
    ]
    # Ties go to the trial started first (by name), not to whichever ended first.
    finished.sort(key=lambda item: (item[1] if mode == "min" else -item[1], item[2]))  # type: ignore[operator]
    return [trial_id for trial_id, _, _ in finished]


def best_trial(state: SweepState, mode: str) -> str | None:
    """The best ranked trial that left a checkpoint."""
    return next(
        (t for t in ranked_trials(state, mode) if state.trials[t].checkpoint is not None), None
    )


def pareto_front(state: SweepState, targets: list[tuple[str, str]]) -> list[str]:
    """Finished trials that no other finished trial beats on every objective (and strictly on
    one), in the order of the first objective."""
    ranked = ranked_trials(state, targets[0][1])
    scores = {}
    for trial_id in ranked:
        values = state.trials[trial_id].last_values
        if all(metric in values for metric, _ in targets):
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
