"""`fusion: auto`: before its trials start, a sweep measures how fast fused groups of each size
train a typical config of its space on one trial's resources, and picks the size; or runs its
trials unfused, should fusing not pay there. What it measured and picked is said on the console
and kept on the sweep's run."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tunelab.spec import MAX_FUSION, LoadedSpec
from tunelab.sweeps._preflight import Prepared, representative_config
from tunelab.tracking import SWEEP, TrackingWriter
from tunelab.tracking.tags import TAG_FUSION, TAG_FUSION_MEASURED

# Fusing must train this many times the examples per second of one model alone to be used: a
# group's members share one architecture, and the search tries fewer of them.
FUSION_PAYS = 1.2
# The smallest size within this fraction of the fastest is picked, for the same reason.
NEAR_FASTEST = 0.9


@dataclass(frozen=True)
class FusionPick:
    size: int | None  # None: the trials run unfused
    device: str
    rates: dict[int, float]  # training examples per second by group size (1: one model alone)

    def describe(self) -> str:
        if len(self.rates) < 2:
            return (
                "fusion: auto runs the trials unfused: no group of 2 fits the sweep or the device"
            )
        measured = ", ".join(f"{k}: {rate:,.0f}" for k, rate in sorted(self.rates.items()))
        best = max(self.rates.values()) / self.rates[1]
        if self.size is None:
            return (
                f"fusion: auto runs the trials unfused: on {self.device}, fusing trained at most "
                f"{best:.2f}x the examples/s of one model (examples/s by group size: {measured})"
            )
        gain = self.rates[self.size] / self.rates[1]
        return (
            f"fusion: auto picked groups of {self.size}: on {self.device}, {gain:.2f}x the "
            f"examples/s of one model (examples/s by group size: {measured})"
        )


def pick_size(rates: dict[int, float]) -> int | None:
    """The smallest size within `NEAR_FASTEST` of the fastest, if the fastest trains at least
    `FUSION_PAYS` times one model alone (size 1); else None."""
    fused = {size: rate for size, rate in rates.items() if size > 1}
    if not fused or max(fused.values()) < FUSION_PAYS * rates[1]:
        return None
    fastest = max(fused.values())
    return min(size for size, rate in fused.items() if rate >= NEAR_FASTEST * fastest)


def candidate_sizes(loaded: LoadedSpec) -> list[int]:
    """2, 4, 8, ... up to the sweep's trials (a larger group would never fill), at most
    MAX_FUSION."""
    spec = loaded.spec
    sizes, size = [], 2
    while size <= min(MAX_FUSION, spec.budget.trials):
        sizes.append(size)
        size *= 2
    return sizes


def pick_fusion(
    loaded: LoadedSpec, prepared: Prepared, writer: TrackingWriter
) -> tuple[LoadedSpec, FusionPick]:
    """The spec with its fused groups' size picked by measurement (or unfused)."""
    from tunelab.backend import measure_fusion

    spec = loaded.spec
    sizes = candidate_sizes(loaded)
    if not sizes:  # a sweep of one trial
        pick = FusionPick(size=None, device="", rates={})
    else:
        device, rates = measure_fusion(
            representative_config(loaded, middle=True),
            data=prepared.data,
            architecture=prepared.arch,
            options=prepared.options,
            sizes=sizes,
            cpu=spec.resources.cpu,
            gpu=spec.resources.gpu,
        )
        pick = FusionPick(size=pick_size(rates), device=device, rates=rates)
    writer.set_tags(
        SWEEP,
        {
            TAG_FUSION: str(pick.size or "off"),
            TAG_FUSION_MEASURED: json.dumps({k: round(v) for k, v in pick.rates.items()}),
        },
    )
    return loaded.with_fusion(pick.size), pick
