"""A population based sweep's own view: each trial's metric and hyperparameters by epoch, the
exploits drawn as jumps from the source's epoch, as a PNG, and the same as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

POPULATION_VIEW = "population"


def draw_population(
    folder: Path,
    trials: Mapping[str, Mapping[str, Any]],
    *,
    metric: str,
    schedule_prefix: str,
    log_scale: frozenset[str] = frozenset(),
) -> None:
    """`trials`: by name, {"schedule": [{"epoch", "value", PREFIX + name: ..., "source"?}],
    "lineage": [exploit, ...]}, as the sweep recorded them. Writes population.json (as given)
    and population.png: the metric, then each hyperparameter, by epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (folder / f"{POPULATION_VIEW}.json").write_text(
        json.dumps({"metric": metric, "trials": trials}, indent=1, sort_keys=True)
    )
    names = sorted(
        {
            k
            for t in trials.values()
            for e in t["schedule"]
            for k in e
            if k.startswith(schedule_prefix)
        }
    )
    panels = [("value", metric), *[(name, name.removeprefix(schedule_prefix)) for name in names]]
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), sharex=True)
    axes = list(axes) if len(panels) > 1 else [axes]
    colours = plt.get_cmap("tab10")
    for index, (trial, data) in enumerate(sorted(trials.items())):
        colour = colours(index % 10)
        for axis, (key, _) in zip(axes, panels, strict=True):
            _draw_trial(axis, data["schedule"], key, colour, label=trial)
    for axis, (_key, label) in zip(axes, panels, strict=True):
        axis.set_ylabel(label)
        if label in log_scale:
            axis.set_yscale("log")
    axes[0].set_title("population: solid lines train, dashed ones are exploits")
    axes[0].legend(fontsize="small", ncol=4)
    axes[-1].set_xlabel("epoch")
    figure.tight_layout()
    figure.savefig(folder / f"{POPULATION_VIEW}.png", dpi=100)
    plt.close(figure)


def _draw_trial(
    axis: Any, schedule: list[Mapping[str, Any]], key: str, colour: Any, label: str
) -> None:
    """One trial's line: a segment per stretch it trained, joined by a dashed jump where it went
    on from another trial's checkpoint."""
    segment: list[tuple[float, float]] = []
    last: tuple[float, float] | None = None
    labelled = False
    for entry in schedule:
        value = entry.get(key)
        if "source" in entry:  # the source's epoch: a new stretch starts here
            if segment:
                axis.plot(
                    *zip(*segment, strict=True), color=colour, label=None if labelled else label
                )
                labelled = True
            segment = []
            if key == "value" and value is not None:
                jump = (float(entry["epoch"]), float(value))
                if last is not None:
                    xs, ys = zip(last, jump, strict=True)
                    axis.plot(xs, ys, color=colour, linestyle="--", linewidth=0.8)
                segment, last = [jump], jump
            continue
        if value is None:
            continue
        point = (float(entry["epoch"]), float(value))
        segment.append(point)
        last = point
    if segment:
        axis.plot(*zip(*segment, strict=True), color=colour, label=None if labelled else label)
