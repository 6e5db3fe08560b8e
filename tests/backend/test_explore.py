"""Population based training explores within the spec's space: a trial never trains with a
value its space does not allow, and only the hyperparameters a trial can change as it trains
are touched."""

from __future__ import annotations

import math
import random

import pytest

from tunelab.backend._population import explore, within
from tunelab.spec import CategoricalParam, FloatParam, IntParam

LR = FloatParam(type="float", low=1e-4, high=1e-1, log=True)
DROPOUT = FloatParam(type="float", low=0.0, high=0.5, step=0.1)
CLIP = IntParam(type="int", low=1, high=9, step=2)
MOMENTUM = CategoricalParam(type="categorical", choices=[0.0, 0.5, 0.9, 0.99])
PARAMS = {"lr": LR, "dropout": DROPOUT, "grad_clip": CLIP, "momentum": MOMENTUM}
START = {"lr": 0.09, "dropout": 0.5, "grad_clip": 9, "momentum": 0.99, "width": 64, "seed": 7}


@pytest.mark.parametrize("resample", [0.0, 0.5, 1.0])
def test_every_explored_value_is_one_the_space_allows(resample: float) -> None:
    rng = random.Random(0)
    config = dict(START)
    for _ in range(300):
        config = explore(
            config, PARAMS, rng, resample_probability=resample, perturbation=(0.5, 2.0)
        )
        assert 1e-4 <= config["lr"] <= 1e-1
        assert any(
            math.isclose(config["dropout"], d, abs_tol=1e-9) for d in (0, 0.1, 0.2, 0.3, 0.4, 0.5)
        )
        assert config["grad_clip"] in (1, 3, 5, 7, 9) and isinstance(config["grad_clip"], int)
        assert config["momentum"] in MOMENTUM.choices
        assert (config["width"], config["seed"]) == (64, 7)  # not this scheduler's to change


def test_perturbing_multiplies_by_a_factor_and_moves_a_choice_by_one() -> None:
    rng = random.Random(1)
    seen_lr, seen_momentum = set(), set()
    for _ in range(50):
        new = explore(START, PARAMS, rng, resample_probability=0.0, perturbation=(0.8, 1.2))
        seen_lr.add(round(new["lr"], 6))
        seen_momentum.add(new["momentum"])
    # 0.09 x 1.2 is past the range's top: clipped to it.
    assert seen_lr == {0.072, 0.1}
    assert seen_momentum == {0.9, 0.99}  # from the last choice: one back, or stays at the end


def test_a_parameter_its_condition_leaves_out_stays_out() -> None:
    config = {k: v for k, v in START.items() if k != "momentum"}  # optimizer adam: no momentum
    new = explore(config, PARAMS, random.Random(2), resample_probability=1.0, perturbation=(2,))
    assert "momentum" not in new


def test_within_clips_and_snaps_to_the_grid() -> None:
    assert within(CLIP, 100.0) == 9
    assert within(CLIP, 4.2) == 5
    assert within(DROPOUT, 0.26) == pytest.approx(0.3)
    assert math.isclose(within(LR, 1e-9), 1e-4)
