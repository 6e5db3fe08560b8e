"""How a sweep and its trials map onto MLflow runs. Plain data and functions; no MLflow."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

TAG_PREFIX = "tunelab."
TAG_ROLE = "tunelab.role"  # "sweep" on the parent, "trial" on each child
TAG_SWEEP = "tunelab.sweep"
TAG_TRIAL_ID = "tunelab.trial_id"
TAG_NODE = "tunelab.node"
TAG_NODE_IP = "tunelab.node_ip"
TAG_MODEL = "tunelab.model"
TAG_PARETO = "tunelab.pareto_front"  # "true" on the runs of a multi-objective sweep's front
TAG_DATASET = "tunelab.dataset"
TAG_OUTCOME = "tunelab.outcome"
TAG_ERROR = "tunelab.error"
TAG_STOPPED_EARLY = "tunelab.stopped_early"
TAG_BEST_RUN_ID = "tunelab.best_run_id"
TAG_BEST_TRIAL = "tunelab.best_trial"
TAG_BEST_CONFIG = "tunelab.best_config"
TAG_BUDGET_REACHED = "tunelab.budget_reached"  # on the parent: the cap that ended the sweep
TAG_REPORT_SANITY = "tunelab.report.sanity"  # "passed" or "failed", set by `tunelab report`
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


class Outcome(StrEnum):
    COMPLETED = "completed"
    STOPPED_EARLY = "stopped_early"
    STOPPED_BY_BUDGET = "stopped_by_budget"  # a wall-time or CPU-/GPU-hour cap was reached
    FAILED = "failed"
    KILLED = "killed"


# MLflow run status for each outcome. An early stop is the scheduler doing its job, a budget
# stop the spec's: FINISHED, with the checkpoint of the last epoch.
RUN_STATUS = {
    Outcome.COMPLETED: "FINISHED",
    Outcome.STOPPED_EARLY: "FINISHED",
    Outcome.STOPPED_BY_BUDGET: "FINISHED",
    Outcome.FAILED: "FAILED",
    Outcome.KILLED: "KILLED",
}


def trial_outcome(
    *, errored: bool, finished: bool, last_epoch: int | None, max_epochs: int
) -> Outcome:
    """The outcome of a trial that has ended. `finished` means Ray ended it normally (it returned,
    or the scheduler stopped it); anything else that ended without an error was killed."""
    if errored:
        return Outcome.FAILED
    if not finished:
        return Outcome.KILLED
    if last_epoch is not None and last_epoch >= max_epochs:
        return Outcome.COMPLETED
    return Outcome.STOPPED_EARLY


def end_tags(outcome: Outcome, error: str | None = None) -> dict[str, str]:
    tags = {
        TAG_OUTCOME: outcome.value,
        TAG_STOPPED_EARLY: "true" if outcome is Outcome.STOPPED_EARLY else "false",
    }
    if outcome is Outcome.FAILED:
        tags[TAG_ERROR] = first_line(error or "unknown error")
    return tags


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:500]
    return ""


def first_line_of(exc: BaseException) -> str:
    """An exception's message in one line, or its type when it has none."""
    return first_line(str(exc)) or type(exc).__name__


def trial_tags(
    *, sweep: str, parent_run_id: str, trial_id: str, model: str, dataset: str
) -> dict[str, str]:
    return {
        PARENT_TAG: parent_run_id,
        TAG_ROLE: "trial",
        TAG_SWEEP: sweep,
        TAG_TRIAL_ID: trial_id,
        TAG_MODEL: model,
        TAG_DATASET: dataset,
    }


def params_of(config: Mapping[str, Any]) -> dict[str, str]:
    """A trial's config as MLflow params: flat, stringified, within MLflow's length limit."""
    out: dict[str, str] = {}
    for key, value in config.items():
        text = value if isinstance(value, str) else json.dumps(value)
        out[str(key)] = text[:MAX_PARAM_LENGTH]
    return out


def config_of(params: Mapping[str, str]) -> dict[str, Any]:
    """A trial's config back from its MLflow params (the inverse of params_of): JSON for
    everything but strings, which params_of writes as they are."""
    config: dict[str, Any] = {}
    for key, text in params.items():
        try:
            config[key] = json.loads(text)
        except ValueError:
            config[key] = text
    return config


def metrics_of(result: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, float]:
    """The named metrics present in a Ray result, as floats."""
    out: dict[str, float] = {}
    for name in names:
        value = result.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best
