"""A reproducible sweep's searcher (`searcher.reproducible`): with trials at once ending in any
order, it proposes the same configurations, because trial n sees the results of trials 0 .. n -
concurrency exactly. Driven here as Ray Tune drives a searcher, without Ray: suggest when a slot
is free (None: ask again later), and each trial's results and end as it finishes."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from tunelab.backend._live import attached
from tunelab.backend._searcher import BudgetedOptunaSearch
from tunelab.search import define_by_run, make_sampler
from tunelab.spec import parse_spec

SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
seed: 7
budget: {{trials: {trials}, max_epochs: 3, concurrency: {concurrency}}}
searcher: {{sampler: tpe, startup_trials: 2, reproducible: {reproducible}}}
scheduler: fifo
space:
  lr: {{type: float, low: 1.0e-4, high: 1.0e-1, log: true}}
  width: {{type: int, low: 8, high: 64}}
"""


def value(config: dict[str, Any]) -> float:
    """A trial's result: a function of its configuration only, as a seeded trial's is."""
    return 1.0 - abs(config["lr"] - 0.01) * 5 - abs(config["width"] - 40) / 100


def sweep(reproducible: bool, order: str, trials: int = 10, concurrency: int = 3) -> list[dict]:
    """The configurations proposed, trial by trial, when running trials end in `order`: the
    oldest first, the newest first, or at random."""
    text = SPEC.format(
        trials=trials, concurrency=concurrency, reproducible=str(reproducible).lower()
    )
    spec = parse_spec(text, "in-order.yaml").spec
    name = f"in-order-{order}-{reproducible}"
    searcher = BudgetedOptunaSearch(
        space=define_by_run(spec),
        metric="val_accuracy",
        mode="max",
        sampler=make_sampler(spec),
        sweep=name,
        max_epochs=3,
        in_order=(concurrency, trials) if reproducible else None,
    )
    budget = SimpleNamespace(capped=False)
    rng = random.Random(order)
    proposed: list[dict] = []
    running: list[tuple[str, dict]] = []
    with attached(name, events=None, budget=budget):  # type: ignore[arg-type]
        while len(proposed) < trials or running:
            while len(running) < concurrency and len(proposed) < trials:
                trial_id = f"t{len(proposed)}"
                config = searcher.suggest(trial_id)
                if config is None:
                    break  # it waits for a trial to end
                assert isinstance(config, dict)
                proposed.append(config)
                running.append((trial_id, config))
            index = {"oldest": 0, "newest": -1}.get(order, rng.randrange(len(running)))
            trial_id, config = running.pop(index)
            for epoch in (1, 2, 3):
                result = {"val_accuracy": value(config) - 0.1 * (3 - epoch)}
                searcher.on_trial_result(trial_id, {**result, "training_iteration": epoch})
            searcher.on_trial_complete(trial_id, {**result, "training_iteration": 3})
    return [{k: v for k, v in c.items() if k in ("lr", "width")} for c in proposed]


def test_the_same_seed_proposes_the_same_trials_whatever_order_they_end_in() -> None:
    first = sweep(True, "oldest")
    assert len(first) == 10
    for order in ("newest", "shuffled", "shuffled again"):
        assert sweep(True, order) == first, order


def test_without_it_the_order_trials_end_in_changes_the_proposals() -> None:
    """What the ordering is for: the searcher told results as they come proposes by timing."""
    runs = [sweep(False, order) for order in ("oldest", "newest", "shuffled")]
    assert runs[0] != runs[1] or runs[0] != runs[2]


def test_every_trial_is_told_once_the_sweep_ends() -> None:
    spec = parse_spec(SPEC.format(trials=4, concurrency=2, reproducible="true"), "x.yaml").spec
    searcher = BudgetedOptunaSearch(
        space=define_by_run(spec),
        metric="val_accuracy",
        mode="max",
        sampler=make_sampler(spec),
        sweep="told",
        in_order=(2, 4),
    )
    with attached("told", events=None, budget=SimpleNamespace(capped=False)):  # type: ignore[arg-type]
        ids = ["a", "b"]
        configs = {i: searcher.suggest(i) for i in ids}
        searcher.on_trial_complete("b", {"val_accuracy": 0.5, "training_iteration": 3})
        assert searcher.suggest("c") is None  # "a", before "c"'s turn, is still running
        searcher.on_trial_complete("a", {"val_accuracy": 0.4, "training_iteration": 3})
        configs["c"] = searcher.suggest("c")
        configs["d"] = searcher.suggest("d")
        assert all(isinstance(c, dict) for c in configs.values())
        for trial_id in ("d", "c"):
            searcher.on_trial_complete(trial_id, {"val_accuracy": 0.6, "training_iteration": 3})
    study = searcher._ot_study
    assert study is not None
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] * 4


@pytest.mark.parametrize("scheduler", ["median", "pbt"])
def test_a_scheduler_that_decides_as_results_arrive_is_refused(scheduler: str) -> None:
    from tunelab.errors import SpecError
    from tunelab.spec import check_spec

    text = SPEC.format(trials=4, concurrency=2, reproducible="true").replace(
        "scheduler: fifo", f"scheduler: {scheduler}"
    )
    with pytest.raises(SpecError, match=r"searcher\.reproducible: orders what the searcher sees"):
        check_spec(parse_spec(text, "x.yaml"))


def asha_stops(in_order: bool, order: str, trials: int = 12, concurrency: int = 3) -> list[int]:
    """The epoch ASHA stops each trial at (its last, where it trains on), when the running
    trials' epochs arrive in `order`: trial n starts once trials 0 .. n - concurrency ended, as
    a reproducible sweep's searcher has it."""
    from ray.tune.schedulers import TrialScheduler

    from tunelab.backend._schedulers import SeededASHA

    asha = SeededASHA(
        time_attr="training_iteration",
        max_t=9,
        grace_period=1,
        reduction_factor=2,
        brackets=1,
        seed=0,
        in_order=concurrency if in_order else None,
    )
    asha.set_search_properties("val_accuracy", "max")
    rng = random.Random(order)
    quality = [random.Random(n).random() for n in range(trials)]  # each trial's, by config
    stops, epoch = [9] * trials, [0] * trials
    running: list[int] = []
    done: set[int] = set()
    started = 0
    while len(done) < trials:
        while (
            started < trials
            and len(running) < concurrency
            and all(i in done for i in range(started - concurrency + 1))
        ):
            asha.on_trial_add(None, SimpleNamespace(trial_id=f"t{started}"))
            running.append(started)
            started += 1
        n = {"oldest": running[0], "newest": running[-1]}.get(order, rng.choice(running))
        epoch[n] += 1
        trial = SimpleNamespace(trial_id=f"t{n}")
        result = {"training_iteration": epoch[n], "val_accuracy": quality[n] * epoch[n] / 9}
        if asha.on_trial_result(None, trial, result) == TrialScheduler.STOP or epoch[n] == 9:
            stops[n] = epoch[n]
            asha.on_trial_complete(None, trial, result)
            running.remove(n)
            done.add(n)
    return stops


def test_asha_in_trial_order_stops_the_same_trials_whatever_order_results_arrive_in() -> None:
    first = asha_stops(True, "oldest")
    assert any(stop < 9 for stop in first)  # it does stop trials early
    for order in ("newest", "shuffled", "shuffled again"):
        assert asha_stops(True, order) == first, order
    plain = [asha_stops(False, order) for order in ("oldest", "newest", "shuffled")]
    assert plain[0] != plain[1] or plain[0] != plain[2]
