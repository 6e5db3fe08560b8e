"""How a sweep and its trials map onto MLflow runs: tags, params and metrics as plain data. No
MLflow here, so the mapping is tested without a store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tunelab.tracking.tags import (
    PARENT_TAG,
    ROLE_SWEEP,
    ROLE_TRIAL,
    TAG_DATA_SHA256,
    TAG_DATASET,
    TAG_FUSED_GROUP,
    TAG_MODEL,
    TAG_ROLE,
    TAG_SWEEP,
    TAG_TRIAL_ID,
)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def sweep_tags(*, sweep: str, model: str, dataset: str, data_sha256: str) -> dict[str, str]:
    """The parent run's tags."""
    return {
        TAG_ROLE: ROLE_SWEEP,
        TAG_SWEEP: sweep,
        TAG_MODEL: model,
        TAG_DATASET: dataset,
        TAG_DATA_SHA256: data_sha256,
    }


def trial_tags(
    *,
    sweep: str,
    parent_run_id: str,
    trial_id: str,
    model: str,
    dataset: str,
    fused_group: str | None = None,
) -> dict[str, str]:
    """A child run's tags: nested under the parent, named by Ray's trial id."""
    tags = {
        PARENT_TAG: parent_run_id,
        TAG_ROLE: ROLE_TRIAL,
        TAG_SWEEP: sweep,
        TAG_TRIAL_ID: trial_id,
        TAG_MODEL: model,
        TAG_DATASET: dataset,
    }
    if fused_group is not None:
        tags[TAG_FUSED_GROUP] = fused_group
    return tags


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
    """The named metrics present in a trial's result, as floats."""
    out: dict[str, float] = {}
    for name in names:
        value = result.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out
