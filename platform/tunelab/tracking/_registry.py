"""The MLflow Model Registry as tunelab uses it: versions registered from trial runs, the
`challenger` and `champion` aliases, facts recorded as version tags, and an append-only history
of promotions, refusals and rollbacks as numbered tags on the registered model."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunelab.errors import NotFoundError, TrackingError, first_line_of
from tunelab.tracking.tags import HISTORY_PREFIX, MODEL_ARTIFACT, history_tag

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION, CHALLENGER = "champion", "challenger"
MAX_TAG_VALUE = 5000  # MLflow's limit on a registry tag's value


def register_version(
    client: MlflowClient, name: str, run_id: str, tags: Mapping[str, Any]
) -> ModelVersion:
    """A new version of `name` (created if new) from the model logged in `run_id`."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Registered by tunelab promote; see the tunelab.history.* tags."
        )
    return client.create_model_version(
        name,
        source=f"runs:/{run_id}/{MODEL_ARTIFACT}",
        run_id=run_id,
        tags={key: _tag_value(value) for key, value in tags.items()},
    )


def tag_version(client: MlflowClient, name: str, version: str, tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, _tag_value(value))


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(name, alias, version)


def append_event(client: MlflowClient, name: str, event: Mapping[str, Any]) -> None:
    """Record `event` as the model's latest history entry. Entries are never rewritten: each
    is a tag of its own, named by the time and a random suffix, so two promotions at once both
    keep theirs (a count read then written would give both the same number)."""
    import uuid

    tag = history_tag(time.time_ns(), uuid.uuid4().hex[:8])
    client.set_registered_model_tag(name, tag, _tag_value(event))


def history(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """The model's history, oldest first."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        raise NotFoundError(f"no registered model {name!r}: {first_line_of(exc)}") from None
    entries = [(k.removeprefix(HISTORY_PREFIX), v) for k, v in model.tags.items()
               if k.startswith(HISTORY_PREFIX)]  # fmt: skip
    # Oldest first: entries numbered 000001, ... (before time-named ones), then by time.
    entries.sort(key=lambda entry: (len(entry[0]) > 6, entry[0]))
    return [json.loads(value) for _, value in entries]


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """Alias -> version number (search results do not carry a version's aliases)."""
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    found = client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version))


def check_tag_values(values: Sequence[Any]) -> None:
    """Refuse, before anything is written, values too long for a registry tag."""
    for value in values:
        _tag_value(value)


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > MAX_TAG_VALUE:
        raise TrackingError(
            f"a registry tag of {len(text)} characters exceeds MLflow's {MAX_TAG_VALUE}"
        )
    return text
