"""Warm start: an earlier sweep's finished trials seed a new sweep's Optuna study, conditional
parameters included; what the new space could not have sampled is skipped and counted."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tunelab.errors import TunelabError
from tunelab.search import define_by_run, seed_study, source_study
from tunelab.spec import parse_spec

SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: {mode}
budget: {{trials: 4, max_epochs: 1}}
space:
  lr: {{type: float, low: {low}, high: 1.0e-1, log: true}}
  optimizer: {{type: categorical, choices: [sgd, adam]}}
  momentum: {{type: float, low: 0.5, high: 0.99, when: {{optimizer: sgd}}}}
{extra}"""


def spec(low: float = 1e-4, mode: str = "max", extra: str = "") -> object:
    return parse_spec(SPEC.format(low=low, mode=mode, extra=extra), "spec.yaml").spec


@pytest.fixture
def earlier(tmp_path: Path) -> optuna.Study:
    """30 finished trials sampled from the space with lr down to 1e-4, and one failed."""
    old_spec = spec(low=1e-4)
    study = optuna.create_study(
        study_name="earlier",
        storage=f"sqlite:///{tmp_path / 'old.db'}",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    sample = define_by_run(old_spec)  # type: ignore[arg-type]

    def objective(trial: optuna.Trial) -> float:
        sample(trial)
        return trial.params["lr"] * 10 + (0.1 if trial.params["optimizer"] == "adam" else 0)

    study.optimize(objective, n_trials=30)
    failed = study.ask()
    sample(failed)
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    return study


def test_values_outside_the_new_bounds_are_skipped_and_counted(earlier: optuna.Study) -> None:
    outside = [
        t
        for t in earlier.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        if t.params["lr"] < 1e-3
    ]
    seeded = seed_study(spec(low=1e-3), sweep="new", storage=None, old=earlier)  # type: ignore[arg-type]
    assert seeded.out_of_bounds == len(outside) > 0
    assert (
        seeded.imported + seeded.out_of_bounds == 30 and seeded.incomplete == 0
    )  # not the failed one
    assert f"skipped {len(outside)} outside the new space's bounds" in seeded.describe()


def test_seeded_trials_keep_values_and_only_the_active_parameters(
    earlier: optuna.Study, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'new.db'}"
    seeded = seed_study(spec(low=1e-3), sweep="new", storage=storage, old=earlier)  # type: ignore[arg-type]
    study = optuna.load_study(study_name="new", storage=storage)
    assert len(study.trials) == seeded.imported
    by_origin = {t.user_attrs["tunelab.warm_start_from"]: t for t in study.trials}
    for old in earlier.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        new = by_origin.get(f"earlier#{old.number}")
        if old.params["lr"] < 1e-3:
            assert new is None  # never clipped into the new bounds
            continue
        assert new is not None and new.values == old.values and new.params == old.params
        assert ("momentum" in new.params) == (new.params["optimizer"] == "sgd")
    # The history is the sampler's: TPE models it from the first new trial on.
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=seeded.imported)
    study = optuna.load_study(study_name="new", storage=storage, sampler=sampler)
    trial = study.ask()
    define_by_run(spec(low=1e-3))(trial)  # type: ignore[arg-type]
    assert 1e-3 <= trial.params["lr"] <= 1e-1


def test_a_parameter_the_new_space_needs_makes_a_trial_incomplete(earlier: optuna.Study) -> None:
    extra = "  width: {type: int, low: 8, high: 64}\n"
    seeded = seed_study(spec(extra=extra), sweep="new", storage=None, old=earlier)  # type: ignore[arg-type]
    assert seeded.imported == 0 and seeded.incomplete == 30
    assert "30 missing a parameter the new space needs" in seeded.describe()


def test_an_earlier_sweep_with_other_directions_is_refused(
    earlier: optuna.Study, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'old.db'}"
    with pytest.raises(TunelabError, match="other directions"):
        source_study(spec(mode="min"), "earlier", storage)  # type: ignore[arg-type]
    with pytest.raises(TunelabError, match="no sweep named 'nothing'"):
        source_study(spec(), "nothing", storage)  # type: ignore[arg-type]


def test_trials_stopped_early_come_across_as_pruned_with_their_epochs(
    earlier: optuna.Study, tmp_path: Path
) -> None:
    stopped = earlier.ask()
    define_by_run(spec(low=1e-3))(stopped)  # type: ignore[arg-type]
    stopped.report(0.2, 1)
    stopped.report(0.3, 2)
    earlier.tell(stopped, state=optuna.trial.TrialState.PRUNED)
    storage = f"sqlite:///{tmp_path / 'new.db'}"
    seeded = seed_study(spec(low=1e-4), sweep="new", storage=storage, old=earlier)  # type: ignore[arg-type]
    assert seeded.imported == 31  # the 30 complete and the pruned one; not the failed one
    study = optuna.load_study(study_name="new", storage=storage)
    (pruned,) = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert pruned.intermediate_values == {1: 0.2, 2: 0.3}
    assert pruned.user_attrs["tunelab.warm_start_from"] == f"earlier#{stopped.number}"
