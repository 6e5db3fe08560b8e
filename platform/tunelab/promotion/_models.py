"""Models as a user reaches them after a sweep: loaded by reference (a registered version,
checked against the checksum recorded when it was registered; a run's logged model; a
checkpoint file), and a registered model's versions, aliases and history."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import tracking
from tunelab.tracking.tags import TAG_DECISION, TAG_SWEEP, TAG_TRIAL

if TYPE_CHECKING:
    from tunelab.training import LoadedModel


def load_model(ref: str, *, tracking_uri: str | None = None) -> LoadedModel:
    """The model `ref` names, on the CPU, ready to predict: `models:/NAME@ALIAS` or
    `models:/NAME/VERSION` (refused unless its checkpoint is the one registered), `runs:/RUN_ID`
    or a run id (its logged model), or a checkpoint file or folder."""
    from tunelab.promotion._promote import verified_checkpoint
    from tunelab.training import load_model as load_checkpointed

    with tempfile.TemporaryDirectory(prefix="tunelab-load-") as folder:
        if ref.startswith("models:/"):
            path = verified_checkpoint(tracking.client(tracking_uri), ref, Path(folder))
        else:
            path = tracking.fetch_checkpoint(ref, tracking_uri, Path(folder))
        return load_checkpointed(path)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    aliases: list[str]
    sweep: str | None
    trial: str | None
    decision: str  # promote, force, refuse; "registered" before any decision


@dataclass(frozen=True)
class ModelHistory:
    name: str
    versions: list[VersionInfo]
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first


def model_history(name: str, *, tracking_uri: str | None = None) -> ModelHistory:
    """A registered model's versions with their aliases, and its append-only history."""
    client = tracking.client(tracking_uri)
    events = tracking.history(client, name)
    aliases_of: dict[str, list[str]] = {}
    for alias, number in tracking.aliases(client, name).items():
        aliases_of.setdefault(number, []).append(alias)
    versions = [
        VersionInfo(
            version=str(v.version),
            aliases=sorted(aliases_of.get(str(v.version), [])),
            sweep=v.tags.get(TAG_SWEEP),
            trial=v.tags.get(TAG_TRIAL),
            decision=v.tags.get(TAG_DECISION, "registered"),
        )
        for v in tracking.versions(client, name)
    ]
    return ModelHistory(name, versions, events)
