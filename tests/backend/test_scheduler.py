"""The spec's scheduler as Ray Tune runs it: ASHA with several brackets (asynchronous
Hyperband) stops trials at each bracket's own first rung, and a seeded sweep puts the same
trials in the same brackets when it runs again."""

from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from tunelab.backend._schedulers import make_scheduler
from tunelab.spec import parse_spec

SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
seed: {seed}
budget: {{trials: 40, max_epochs: 12}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 3, brackets: 3}}
space:
  lr: {{type: float, low: 1.0e-4, high: 1.0e-1, log: true}}
"""


def first_stops(seed: int, trials: int = 40) -> list[int | None]:
    """For each bad trial, the epoch at which ASHA stops it early (None: it trained to the
    end): it reports 0.0 after a good trial reported 1.0 at every epoch, each in the bracket
    it joined."""
    scheduler = make_scheduler(parse_spec(SPEC.format(seed=seed), "asha.yaml", {}).spec)
    scheduler.set_search_properties("val_accuracy", "max")
    stops = []
    for n in range(trials):
        good, bad = SimpleNamespace(trial_id=f"good{n}"), SimpleNamespace(trial_id=f"bad{n}")
        for trial in (good, bad):
            scheduler.on_trial_add(None, trial)
        for epoch in range(1, 13):
            result = {"training_iteration": epoch}
            scheduler.on_trial_result(None, good, {**result, "val_accuracy": 1.0})
        for epoch in range(1, 13):
            result = {"training_iteration": epoch, "val_accuracy": 0.0}
            if scheduler.on_trial_result(None, bad, result) == TrialScheduler.STOP:
                stops.append(epoch if epoch < 12 else None)  # at 12: the end, not early
                break
    return stops


def test_trials_are_stopped_at_each_brackets_first_rung_and_the_same_ones_again() -> None:
    stops = first_stops(seed=3)
    # Brackets of rungs (1, 3, 9), (3, 9) and (9): a bad trial goes as far as its bracket's
    # first rung, and every bracket gets trials, the ones with more rungs more often.
    # (A bad trial trains to the end only where no good one has reached its rung yet.)
    assert {1, 3, 9} <= set(stops) <= {1, 3, 9, None}, stops
    assert stops.count(1) > stops.count(3) > stops.count(9)
    assert first_stops(seed=3) == stops
    assert first_stops(seed=4) != stops


PLATEAU_SPEC = """
model: lstm
dataset: {{name: adding, options: {{length: 20, size: 200}}}}
metric: val_mse
mode: min
budget: {{trials: 20, max_epochs: 9}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 3{plateau}}}
space:
  lr: {{type: float, low: 1.0e-4, high: 1.0e-1, log: true}}
"""
LEVEL = 0.16  # what predicting the training mean scores on the adding problem: the plateau


def plateau_scheduler(plateau: str) -> TrialScheduler:
    spec = parse_spec(PLATEAU_SPEC.format(plateau=plateau), "adding.yaml", {}).spec
    scheduler = make_scheduler(spec, untrained={"val_mse": (LEVEL, 0.0)})
    scheduler.set_search_properties("val_mse", "min")
    return scheduler


def stopped(
    scheduler: TrialScheduler, name: str, curve: list[float], metric: str = "val_mse"
) -> int | None:
    """The epoch at which the scheduler stops a trial reporting `curve` early (None: it trains
    to the end)."""
    trial = SimpleNamespace(trial_id=name)
    scheduler.on_trial_add(None, trial)
    for epoch, value in enumerate(curve[:-1], start=1):
        result = {"training_iteration": epoch, metric: value}
        if scheduler.on_trial_result(None, trial, result) == TrialScheduler.STOP:
            return epoch
    return None


def test_asha_waits_while_every_trial_is_on_the_plateau_then_stops_those_still_on_it() -> None:
    noise = [0.0, 0.004, -0.003, 0.006, 0.002, 0.008]  # on the plateau: MSE 0.158-0.168
    flat = [[LEVEL + n] * 9 for n in noise]
    plain, waiting = plateau_scheduler(", plateau: 0"), plateau_scheduler("")
    # Plain ASHA ranks the plateau's noise: two of the six are stopped after one epoch.
    assert [stopped(plain, f"t{i}", c) for i, c in enumerate(flat)].count(1) >= 2
    # ASHA's default waits it out (plateau 0.1): none is stopped, since the top third of the rung
    # has not left the plateau.
    assert [stopped(waiting, f"t{i}", c) for i, c in enumerate(flat)] == [None] * 6
    # One that diverges (worse than learning nothing, by the margin) is stopped all the same.
    assert stopped(waiting, "diverging", [0.4] * 9) == 1
    # Once trials have left the plateau (three of nine reach an MSE of 0.02 at epoch 3), the
    # rung's top third is off it, and a trial still on the plateau is stopped there.
    for name in ("learner1", "learner2", "learner3"):
        assert stopped(waiting, name, [0.16, 0.1, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]) is None
    assert stopped(waiting, "late", [LEVEL + 0.001] * 9) == 3


def test_a_metric_without_a_known_untrained_level_is_plain_asha() -> None:
    spec = parse_spec(
        PLATEAU_SPEC.format(plateau=", plateau: 0.1").replace("val_mse", "val_mae"),
        "adding.yaml",
        {},
    ).spec
    scheduler = make_scheduler(spec, untrained={})
    scheduler.set_search_properties("val_mae", "min")
    curves = [[0.3 + n] * 9 for n in (0.0, 0.01, 0.02, 0.03)]
    stops = [stopped(scheduler, f"t{i}", c, "val_mae") for i, c in enumerate(curves)]
    assert 1 in stops  # ranked by noise, as plain ASHA does
