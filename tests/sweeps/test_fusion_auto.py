"""`fusion: auto`: which group size a sweep picks from what it measured, and what it measures on."""

from __future__ import annotations

import math

from tunelab.spec import parse_spec
from tunelab.sweeps._fusion import FusionPick, candidate_sizes, pick_size
from tunelab.sweeps._preflight import representative_config

SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: {trials}, max_epochs: 2}}
resources: {{cpu: {cpu}}}
fusion: auto
space:
  lr: {{type: float, low: 1.0e-4, high: 1.0e-2, log: true}}
  dropout: {{type: float, low: 0.0, high: 0.5}}
  width: {{type: int, low: 16, high: 240, step: 16}}
  depth: {{type: int, low: 1, high: 5}}
  activation: {{type: categorical, choices: [relu, tanh, gelu]}}
  optimizer: adam
"""


def test_the_smallest_size_near_the_fastest_is_picked() -> None:
    # 8 is within 10% of 16, the fastest: half the trials share each architecture.
    assert pick_size({1: 100.0, 2: 130.0, 4: 160.0, 8: 185.0, 16: 200.0}) == 8
    assert pick_size({1: 100.0, 2: 300.0, 4: 310.0}) == 2


def test_fusing_that_does_not_pay_runs_the_trials_unfused() -> None:
    assert pick_size({1: 100.0, 2: 105.0, 4: 115.0}) is None
    assert pick_size({1: 100.0}) is None  # no group fitted the device
    pick = FusionPick(size=None, device="cpu", rates={1: 100.0, 2: 105.0, 4: 115.0})
    assert pick.describe() == (
        "fusion: auto runs the trials unfused: on cpu, fusing trained at most 1.15x the "
        "examples/s of one model (examples/s by group size: 1: 100, 2: 105, 4: 115)"
    )


def test_the_sizes_tried_fit_the_sweep() -> None:
    def sizes(trials: int, cpu: float) -> list[int]:
        return candidate_sizes(parse_spec(SPEC.format(trials=trials, cpu=cpu), "s.yaml"))

    assert sizes(100, 1) == [2, 4, 8, 16, 32, 64]
    assert sizes(12, 1) == [2, 4, 8]  # no group larger than the sweep
    assert sizes(1, 1) == []
    assert sizes(100, 0.25) == [2, 4, 8, 16, 32, 64]  # a group holds one trial's resources


def test_a_typical_config_is_measured_the_middle_of_the_space() -> None:
    loaded = parse_spec(SPEC.format(trials=8, cpu=1), "s.yaml")
    config = representative_config(loaded, middle=True)
    assert math.isclose(config["lr"], 1e-3)  # the middle of a log range is geometric
    assert config["dropout"] == 0.25
    assert config["width"] == 128
    bent = parse_spec(SPEC.format(trials=8, cpu=1).replace("high: 240", "high: 256"), "s.yaml")
    assert representative_config(bent, middle=True)["width"] == 144  # 136, on the grid of 16
    assert config["depth"] == 3
    assert config["activation"] == "tanh"
    assert config["optimizer"] == "adam"
    # The builder's check keeps its smallest point.
    assert representative_config(loaded)["width"] == 16
