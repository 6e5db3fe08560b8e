from __future__ import annotations

import optuna
import pytest

from tunelab.search import SEED_KEY, define_by_run, make_sampler, sampling_order
from tunelab.spec import SAMPLERS, parse_spec

SPEC = """
model: cnn
dataset: digits
metric: val_accuracy
mode: max
seed: 100
budget: {trials: 4, max_epochs: 2}
searcher: random
space:
  momentum: {type: float, low: 0.0, high: 0.9, when: {optimizer: sgd}}
  optimizer: {type: categorical, choices: [sgd, adam, adamw]}
  lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
  channels: {type: int, low: 8, high: 32, step: 8}
  activation: tanh
"""


def sample(text: str, n: int) -> list[tuple[dict, dict]]:
    spec = parse_spec(text, "t.yaml").spec
    study = optuna.create_study(sampler=make_sampler(spec), direction="maximize")
    suggest = define_by_run(spec)
    out = []
    for _ in range(n):
        trial = study.ask()
        constants = suggest(trial)
        out.append((dict(trial.params), constants))
        study.tell(trial, 0.5)
    return out


def test_parent_is_sampled_before_its_conditional_child() -> None:
    space = parse_spec(SPEC, "t.yaml").spec.space
    order = sampling_order(space)
    assert order.index("optimizer") < order.index("momentum")
    assert order[:2] == ["optimizer", "lr"] or order.index("lr") < order.index("momentum")


def test_conditional_parameter_exists_only_when_its_condition_holds() -> None:
    seen = {"sgd": 0, "other": 0}
    for params, _ in sample(SPEC, 60):
        if params["optimizer"] == "sgd":
            assert 0.0 <= params["momentum"] <= 0.9
            seen["sgd"] += 1
        else:
            assert "momentum" not in params
            seen["other"] += 1
    assert seen["sgd"] and seen["other"]


def test_bounds_step_and_log_are_respected() -> None:
    for params, _ in sample(SPEC, 40):
        assert 1e-4 <= params["lr"] <= 1e-1
        assert params["channels"] in {8, 16, 24, 32}


def test_constants_and_per_trial_seed_are_returned_for_the_config() -> None:
    results = sample(SPEC, 3)
    assert [constants[SEED_KEY] for _, constants in results] == [100, 101, 102]
    assert all(constants["activation"] == "tanh" for _, constants in results)
    assert all("activation" not in params for params, _ in results)


def test_same_seed_same_proposals() -> None:
    assert sample(SPEC, 8) == sample(SPEC, 8)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_proposes_within_the_space(sampler: str) -> None:
    text = SPEC.replace("searcher: random", f"searcher: {sampler}")
    for params, _ in sample(text, 4):
        assert params["optimizer"] in {"sgd", "adam", "adamw"}
        assert ("momentum" in params) == (params["optimizer"] == "sgd")


def test_tpe_settings_from_the_spec_change_what_is_proposed() -> None:
    def tpe(n: int) -> str:
        return SPEC.replace("searcher: random", f"searcher: {{sampler: tpe, startup_trials: {n}}}")

    early, late = sample(tpe(3), 8), sample(tpe(8), 8)
    # Both sample at random, from the same seed, until the earlier one starts modelling.
    assert early[:3] == late[:3] and early[3:] != late[3:]
