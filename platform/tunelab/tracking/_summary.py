"""End-of-sweep records on the parent run: the spec as written, the best config, the summary
and its metrics and tags."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunelab.tracking.tags import (
    TAG_BEST_CONFIG,
    TAG_BEST_RUN_ID,
    TAG_BEST_TRIAL,
    TAG_BUDGET_REACHED,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

SPEC_ARTIFACT = "spec.yaml"
SUMMARY_ARTIFACT = "sweep_summary.json"
BEST_CONFIG_ARTIFACT = "best_config.json"
VIEWS_ARTIFACT = "views"  # the folder of the sweep's views on its parent run


def parent_summary_writer(
    *,
    parent_run_id: str,
    spec_text: str,
    metric: str,
    counts: Mapping[str, int],
    best: Mapping[str, Any] | None,
    top: Sequence[Mapping[str, Any]],
    wall_s: float,
    pareto_front: Sequence[Mapping[str, Any]] | None = None,
    usage: Mapping[str, float],
    budget_reached: str | None = None,
) -> Any:
    """A writer call that records the sweep's outcome on the parent run. `counts` has every
    outcome, in order, with its number of trials."""

    def write(client: MlflowClient, _run_ids: Mapping[str, str]) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = [Metric(f"trials_{o}", float(n), now, 0) for o, n in counts.items()]
        metrics.append(Metric("wall_s", wall_s, now, 0))
        metrics += [Metric(name, float(value), now, 0) for name, value in usage.items()]
        tags: list[RunTag] = []
        if budget_reached is not None:
            tags.append(RunTag(TAG_BUDGET_REACHED, budget_reached))
        if best is not None:
            metrics.append(Metric(f"best_{metric}", float(best["metric"]), now, 0))
            tags += [
                RunTag(TAG_BEST_RUN_ID, best["run_id"] or ""),
                RunTag(TAG_BEST_TRIAL, best["trial"]),
                RunTag(TAG_BEST_CONFIG, json.dumps(best["config"], sort_keys=True)[:5000]),
            ]
            client.log_dict(parent_run_id, best["config"], BEST_CONFIG_ARTIFACT)
        client.log_batch(parent_run_id, metrics=metrics, tags=tags)
        client.log_text(parent_run_id, spec_text, SPEC_ARTIFACT)
        summary = {
            "metric": metric,
            "trials": dict(counts),
            "best": dict(best) if best is not None else None,
            "top": [dict(t) for t in top],
            **(
                {"pareto_front": [dict(t) for t in pareto_front]}
                if pareto_front is not None
                else {}
            ),
            "wall_s": wall_s,
            **{name: round(value, 6) for name, value in usage.items()},
            "budget_reached": budget_reached,
        }
        client.log_dict(parent_run_id, summary, SUMMARY_ARTIFACT)

    return write
