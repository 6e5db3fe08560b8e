"""A driver lost between asking Optuna for a trial and recording that trial's run leaves the
Optuna trial RUNNING with no run. The resumed sweep's first new trial takes it: the trial has
the number, the seed (the sweep's plus the number), the parameters and the name it would have
had uninterrupted, and no number is skipped."""

from __future__ import annotations

from types import SimpleNamespace

import optuna

from tunelab.backend._live import attached
from tunelab.backend._searcher import BudgetedOptunaSearch
from tunelab.search import SEED_KEY, define_by_run, make_sampler
from tunelab.spec import parse_spec
from tunelab.sweeps._extend import EarlierTrial
from tunelab.sweeps._resume import Resumption
from tunelab.sweeps._state import Outcome

SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
seed: 7
budget: {trials: 4, max_epochs: 3}
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
  width: {type: int, low: 8, high: 64}
"""


def earlier(name: str, seed: int, outcome: Outcome | None) -> EarlierTrial:
    return EarlierTrial(
        run_id=f"run-{name}",
        name=name,
        config={SEED_KEY: seed},
        last_epoch=3 if outcome else 1,
        last_value=0.5,
        last_values={},
        outcome=outcome,
        seconds=1.0,
    )


def test_an_optuna_trial_running_with_no_run_is_asked_for_a_new_trial() -> None:
    resumption = Resumption(
        sweep="s",
        parent_run_id="p",
        number=1,
        trials=[earlier("trial-000", 7, Outcome.COMPLETED), earlier("trial-001", 8, None)],
        seed=7,
        max_epochs=3,
    )
    settled = resumption.settled({0: "COMPLETE", 1: "RUNNING", 2: "RUNNING", 3: "FAIL"})
    # Trial 1 goes on in its run; trial 2 was asked and lost; trial 3 ended without a run.
    assert settled.asked == (2,)
    assert [t.name for t in settled.going_on()] == ["trial-001"]
    assert settled.study_trials == 4
    assert settled.to_run(4) == 3  # the one that goes on, and two new: the first takes trial 2


def test_the_first_new_trial_takes_the_asked_trial_with_its_number_seed_and_parameters() -> None:
    spec = parse_spec(SPEC, "asked.yaml").spec
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="asked", storage=storage, direction="maximize")
    first = study.ask()
    define_by_run(spec)(first)
    study.tell(first, 0.5)
    lost = study.ask()  # the lost driver's: asked, its parameters suggested, never run
    define_by_run(spec)(lost)

    searcher = BudgetedOptunaSearch(
        space=define_by_run(spec),
        metric="val_accuracy",
        mode="max",
        sampler=make_sampler(spec, spec.seed + 2),
        storage=storage,
        study_name="asked",
        sweep="asked",
        max_epochs=3,
        asked=[lost.number],
    )
    with attached("asked", events=None, budget=SimpleNamespace(capped=False)):  # type: ignore[arg-type]
        taken = searcher.suggest("ray-a")
        after = searcher.suggest("ray-b")
        assert isinstance(taken, dict) and isinstance(after, dict)
        searcher.on_trial_result("ray-a", {"val_accuracy": 0.7, "training_iteration": 3})
        searcher.on_trial_complete("ray-a", {"val_accuracy": 0.7, "training_iteration": 3})

    assert taken[SEED_KEY] == spec.seed + 1
    assert {k: taken[k] for k in ("lr", "width")} == lost.params
    assert after[SEED_KEY] == spec.seed + 2  # the next is asked anew: no number skipped
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 3
    assert trials[1].state.name == "COMPLETE" and trials[1].value == 0.7
    assert trials[2].state.name == "RUNNING"
