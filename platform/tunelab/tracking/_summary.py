"""End-of-sweep records on the parent run: the spec as written, the best config, the summary
and its metrics and tags."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunelab.tracking._durable import Durable, kind
from tunelab.tracking._writer import SWEEP
from tunelab.tracking.tags import (
    BEST_CONFIG_ARTIFACT,
    SPEC_ARTIFACT,
    SUMMARY_ARTIFACT,
    TAG_BEST_CONFIG,
    TAG_BEST_RUN_ID,
    TAG_BEST_TRIAL,
    TAG_BUDGET_REACHED,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


def spec_writer(spec_text: str) -> Durable:
    """A writer call that records the spec as written on the parent run: at the start, so an
    interrupted sweep's trials can be explained and promoted."""
    return Durable("text", key=SWEEP, artifact=SPEC_ARTIFACT, text=spec_text)


def parent_summary_writer(
    *,
    metric: str,
    counts: Mapping[str, int],
    best: Mapping[str, Any] | None,
    top: Sequence[Mapping[str, Any]],
    wall_s: float,
    pareto_front: Sequence[Mapping[str, Any]] | None = None,
    usage: Mapping[str, float],
    budget_reached: str | None = None,
    final: bool = True,
    interrupted: bool = False,
) -> Durable:
    """A writer call that records the sweep's outcome on the parent run: `sweep_summary.json`,
    and when `final`, its metrics, the best trial's tags and `best_config.json`. `counts` has
    every outcome, in order, with its number of trials. Entries (best, top, front) name their
    trial by `key`, which becomes its run id when it is written, where every run id is known."""
    args = dict(
        metric=metric,
        counts=dict(counts),
        best=dict(best) if best is not None else None,
        top=[dict(t) for t in top],
        wall_s=wall_s,
        pareto_front=[dict(t) for t in pareto_front] if pareto_front is not None else None,
        usage=dict(usage),
        budget_reached=budget_reached,
        final=final,
        interrupted=interrupted,
        at_ms=int(time.time() * 1000),  # the same points however often it is written
    )
    return Durable("summary", args=args)


@kind("summary")
def _write_kept_summary(
    client: MlflowClient, run_ids: Mapping[str, str], record: Mapping[str, Any]
) -> None:
    write_summary(client, run_ids, **record["args"])


def write_summary(
    client: MlflowClient,
    run_ids: Mapping[str, str],
    *,
    metric: str,
    counts: Mapping[str, int],
    best: Mapping[str, Any] | None,
    top: Sequence[Mapping[str, Any]],
    wall_s: float,
    pareto_front: Sequence[Mapping[str, Any]] | None,
    usage: Mapping[str, float],
    budget_reached: str | None,
    final: bool,
    interrupted: bool,
    at_ms: int | None = None,
) -> None:
    """What `parent_summary_writer` describes, done."""
    from mlflow.entities import Metric, RunTag

    def resolved(entry: Mapping[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in entry.items() if k != "key"}
        return {**values, "run_id": run_ids.get(entry["key"])}

    parent_run_id = run_ids[SWEEP]
    best_entry = resolved(best) if best is not None else None
    if final:
        now = at_ms or int(time.time() * 1000)
        metrics = [Metric(f"trials_{o}", float(n), now, 0) for o, n in counts.items()]
        metrics.append(Metric("wall_s", wall_s, now, 0))
        metrics += [Metric(name, float(value), now, 0) for name, value in usage.items()]
        tags: list[RunTag] = []
        if budget_reached is not None:
            tags.append(RunTag(TAG_BUDGET_REACHED, budget_reached))
        if best_entry is not None:
            metrics.append(Metric(f"best_{metric}", float(best_entry["metric"]), now, 0))
            tags += [
                RunTag(TAG_BEST_RUN_ID, best_entry["run_id"] or ""),
                RunTag(TAG_BEST_TRIAL, best_entry["trial"]),
                RunTag(TAG_BEST_CONFIG, json.dumps(best_entry["config"], sort_keys=True)[:5000]),
            ]
            client.log_dict(parent_run_id, best_entry["config"], BEST_CONFIG_ARTIFACT)
        client.log_batch(parent_run_id, metrics=metrics, tags=tags)
    summary = {
        "metric": metric,
        "trials": dict(counts),
        "best": best_entry,
        "top": [resolved(t) for t in top],
        **(
            {"pareto_front": [resolved(t) for t in pareto_front]}
            if pareto_front is not None
            else {}
        ),
        "wall_s": wall_s,
        **{name: round(value, 6) for name, value in usage.items()},
        "budget_reached": budget_reached,
        "state": "running" if not final else ("interrupted" if interrupted else "finished"),
    }
    client.log_dict(parent_run_id, summary, SUMMARY_ARTIFACT)
