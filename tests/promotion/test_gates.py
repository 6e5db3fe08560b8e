"""The promotion gates, as plain functions of what was measured."""

from __future__ import annotations

import pytest

from tunelab.promotion import Reproduction, beats_champion, interpretable, reproducible


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
