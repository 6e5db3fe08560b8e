"""The promotion gates, as plain functions of what was measured."""

from __future__ import annotations

import pytest

from tunelab.errors import TunelabError
from tunelab.promotion import (
    Reproduction,
    beats_champion,
    feasible,
    interpretable,
    picked,
    reproducible,
)
from tunelab.spec import Bound


@pytest.mark.parametrize(
    ("mode", "challenger", "champion", "margin", "passes"),
    [
        ("max", 0.91, 0.90, 0.0, True),
        ("max", 0.90, 0.90, 0.0, False),  # a tie is not better
        ("max", 0.905, 0.90, 0.01, False),  # better, but by less than the margin
        ("max", 0.92, 0.90, 0.01, True),
        ("min", 0.10, 0.12, 0.0, True),  # lower is better for an error
        ("min", 0.12, 0.10, 0.0, False),
    ],
)
def test_beats_champion_by_more_than_the_margin(
    mode: str, challenger: float, champion: float, margin: float, passes: bool
) -> None:
    gate = beats_champion("test_m", mode, margin, {"test_m": challenger}, "3", {"test_m": champion})
    assert gate.passed is passes
    assert "version 3" in gate.detail and f"margin {margin:g}" in gate.detail


def test_no_champion_passes_and_an_incomparable_champion_fails() -> None:
    assert beats_champion("test_m", "max", 0.0, {"test_m": 0.5}, None, None).passed is True
    refused = beats_champion("test_m", "max", 0.0, {"test_m": 0.5}, "2", None)
    assert refused.passed is False and "other inputs" in refused.detail


def test_reproducible_applies_only_when_required_and_holds_to_its_tolerance() -> None:
    assert reproducible(None).passed is None

    def retrained(value: float) -> Reproduction:
        return Reproduction("r", "trial-000", "val_accuracy", 3, 0.9, value, 1)

    assert reproducible(retrained(0.9)).passed is True
    assert reproducible(retrained(0.9 * (1 + 1e-7))).passed is True
    assert reproducible(retrained(0.9 * (1 + 1e-5))).passed is False
    assert reproducible(retrained(float("nan"))).passed is False


def test_interpretability_follows_the_reports_sanity_checks() -> None:
    assert interpretable(None).passed is None
    assert interpretable("passed").passed is True
    assert interpretable("failed").passed is False


def test_an_infeasible_challenger_fails_with_the_constraint_named() -> None:
    constraints = {"latency_ms": Bound(max=5.0), "val_accuracy": Bound(min=0.9)}
    ok = feasible(constraints, {"latency_ms": 4.2, "val_accuracy": 0.93})
    assert ok.passed is True and "latency_ms <= 5" in ok.detail
    slow = feasible(constraints, {"latency_ms": 7.25, "val_accuracy": 0.95})
    assert slow.passed is False
    assert slow.detail == "latency_ms 7.25 breaks latency_ms <= 5"
    unmeasured = feasible({"param_count": Bound(min=10, max=20)}, {})
    assert unmeasured.passed is False
    assert unmeasured.detail == "param_count was never reported (10 <= param_count <= 20)"
    assert feasible({}, {"latency_ms": 9.0}).passed is None  # no constraints: does not apply


def test_pick_chooses_on_the_feasible_front_by_the_rule_given() -> None:
    front = [
        {"trial": "trial-001", "run_id": "a", "values": {"val_accuracy": 0.97, "latency_ms": 4.0}},
        {"trial": "trial-004", "run_id": "b", "values": {"val_accuracy": 0.91, "latency_ms": 1.5}},
    ]
    summary = {"pareto_front": front}
    assert picked(summary, "max val_accuracy", "s")["trial"] == "trial-001"
    assert picked(summary, "min latency_ms", "s")["trial"] == "trial-004"
    for rule, message in [
        ("fastest", "--pick takes 'max METRIC' or 'min METRIC', got 'fastest'"),
        ("max param_count", "--pick: 'param_count' is not an objective of sweep 's'; its "
         "objectives: latency_ms, val_accuracy"),
    ]:  # fmt: skip
        with pytest.raises(TunelabError) as caught:
            picked(summary, rule, "s")
        assert str(caught.value) == message
    with pytest.raises(TunelabError, match="has one metric"):
        picked({"pareto_front": None}, "max val_accuracy", "s")
    with pytest.raises(TunelabError, match="no feasible trial on its Pareto front"):
        picked({"pareto_front": []}, "max val_accuracy", "s")
