"""The gates a challenger passes before it becomes the champion. Each is a plain function of
numbers and facts already measured, so each is tested without a registry or a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunelab.spec import Bound, violations
from tunelab.tracking import CHAMPION

if TYPE_CHECKING:
    from tunelab.promotion._reproduce import Reproduction


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool | None  # None: does not apply (no champion is a pass; see each gate)
    detail: str


def beats_champion(
    test_name: str,
    mode: str,
    margin: float,
    challenger: dict[str, float],
    champion_version: str | None,
    champion: dict[str, float] | None,
) -> Gate:
    """The challenger's test metric beats the champion's by more than `margin` (strictly, with
    margin 0). Passes when there is no champion; fails when the champion cannot be scored on
    this data (`champion` None while `champion_version` is set)."""
    value = challenger[test_name]
    if champion_version is None:
        return Gate("beats_champion", True, f"no {CHAMPION} yet; {test_name} {value:.6g}")
    if champion is None:
        return Gate(
            "beats_champion",
            False,
            f"the {CHAMPION} (version {champion_version}) takes other inputs than this data",
        )
    old = champion[test_name]
    gain = value - old if mode == "max" else old - value
    passed = gain >= margin if margin > 0 else gain > 0
    return Gate(
        "beats_champion",
        passed,
        f"{test_name} {value:.6g} vs {CHAMPION} (version {champion_version}) {old:.6g}: "
        f"{'better' if gain > 0 else 'not better'} by {abs(gain):.6g}, margin {margin:g}",
    )


def reproducible(result: Reproduction | None) -> Gate:
    """Retraining reached the logged metric; None: retraining was not required."""
    if result is None:
        return Gate("reproducible", None, "not required")
    return Gate(
        "reproducible",
        result.reproducible,
        f"{result.metric} {result.reproduced:.9g} retrained vs {result.logged:.9g} logged: "
        f"relative difference {result.relative_difference:.2e} (tolerance {result.tolerance:g})",
    )


def interpretable(sanity: str | None) -> Gate:
    """The trial's report passed its sanity checks; None: the trial has no report."""
    if sanity is None:
        return Gate("interpretability", None, "no report on this trial")
    return Gate(
        "interpretability",
        sanity == "passed",
        f"the trial's report sanity checks {sanity}",
    )


def feasible(constraints: Mapping[str, Bound], values: Mapping[str, float]) -> Gate:
    """The challenger's last values keep to every constraint of its sweep's spec (the values
    its logged model was checkpointed with); None: the spec has none."""
    if not constraints:
        return Gate("feasible", None, "the sweep has no constraints")
    broken = violations(constraints, values)
    if not broken:
        kept = "; ".join(b.describe(m) for m, b in constraints.items())
        return Gate("feasible", True, f"within its constraints: {kept}")
    details = [
        f"{metric} {values[metric]:.6g} breaks {constraints[metric].describe(metric)}"
        if metric in values
        else f"{metric} was never reported ({constraints[metric].describe(metric)})"
        for metric in sorted(broken)
    ]
    return Gate("feasible", False, "; ".join(details))
