"""Trainers are a registry of records: a third kind of training loop is one registration, and a
spec naming a model of that trainer is checked against its hyperparameters and metrics and
trains with its loop, with nothing else edited."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tunelab.data import DataInfo, datasets
from tunelab.errors import SpecError
from tunelab.models import POSITIVE, Architecture, architectures
from tunelab.spec import check_spec, parse_spec
from tunelab.training import Trainer, register_trainer, train, trainer_of, trainers


def linear(hparams: Mapping[str, Any], info: DataInfo) -> Any:
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(13, info.n_outputs))


def shrinking_loop(
    config: Mapping[str, Any], data: Any, arch: Architecture, *, max_epochs: int, report: Any,
    **_: Any,
) -> None:  # fmt: skip
    """A loop of its own: the 'gap' halves each epoch, from the trainer's `start`."""
    gap = float(config.get("start", 1.0))
    for epoch in range(1, max_epochs + 1):
        gap /= 2
        report(epoch, {"val_gap": gap}, {"epoch": epoch})


@pytest.fixture
def halving() -> Iterator[Trainer]:
    trainer = register_trainer(
        Trainer(
            name="halving",
            hyperparameters={"start": 1.0},
            ranges={"start": POSITIVE},
            metrics={"classification": ("val_gap",)},
            scheduled=(),
            loop=f"{__name__}:shrinking_loop",
            test_scores=f"{__name__}:shrinking_loop",
        )
    )
    architectures.register(
        "halver", Architecture(name="halver", description="a test", build=linear, trainer="halving")
    )
    yield trainer
    trainers.unregister("halving")
    architectures.unregister("halver")


SPEC = """
model: halver
dataset: wine
metric: val_gap
mode: min
budget: {{trials: 2, max_epochs: 3}}
scheduler: fifo
space:
  start: {{type: float, low: {low}, high: 4.0}}
"""


def test_a_third_trainer_is_one_registration(halving: Trainer) -> None:
    loaded = parse_spec(SPEC.format(low=0.5), "halving.yaml")
    check_spec(loaded)  # its hyperparameter and its metric are known
    assert trainer_of("halving") is halving
    assert "halving" in trainers.registered()

    reported: list[tuple[int, dict[str, float]]] = []
    arch = architectures.get("halver")
    train(
        {"start": 2.0},
        datasets.get("wine").load(),
        arch,
        max_epochs=3,
        report=lambda epoch, metrics, state: reported.append((epoch, metrics)),
    )
    assert reported == [(1, {"val_gap": 1.0}), (2, {"val_gap": 0.5}), (3, {"val_gap": 0.25})]


def test_its_ranges_are_checked_as_the_built_in_trainers_are(halving: Trainer) -> None:
    with pytest.raises(SpecError) as caught:
        check_spec(parse_spec(SPEC.format(low=-1.0), "halving.yaml"))
    assert "space.start.low" in str(caught.value)


def test_an_unknown_trainer_names_the_registered_ones() -> None:
    architectures.register(
        "orphan", Architecture(name="orphan", description="a test", build=linear, trainer="rl")
    )
    try:
        with pytest.raises(SpecError) as caught:
            check_spec(parse_spec(SPEC.format(low=0.5).replace("halver", "orphan"), "o.yaml"))
    finally:
        architectures.unregister("orphan")
    assert "names trainer 'rl'; trainers: supervised, gan" in str(caught.value)
