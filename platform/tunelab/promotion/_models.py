"""Models as a user reaches them after a sweep: loaded by reference (a registered version or a
run's logged model, checked against the digest recorded when it was logged; a checkpoint file),
served, and a registered model's versions, aliases and history."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import tracking
from tunelab.tracking.tags import TAG_DECISION, TAG_SWEEP, TAG_TRIAL

if TYPE_CHECKING:
    from tunelab.training import LoadedModel


def load_model(
    ref: str, *, tracking_uri: str | None = None, trust_code: bool = False
) -> LoadedModel:
    """The model `ref` names, on the CPU, ready to predict: `models:/NAME@ALIAS`,
    `models:/NAME/VERSION`, `runs:/RUN_ID` or a run id (refused unless its files are the ones
    recorded when it was logged), or a checkpoint file or folder of your own. An architecture
    the model names by import path is imported only with `trust_code` when the model comes
    from the store (see `plugins.stored_code`)."""
    from tunelab.plugins import stored_code
    from tunelab.training import load_model as load_checkpointed

    with (
        stored_code(refused=tracking.is_stored(ref) and not trust_code),
        tempfile.TemporaryDirectory(prefix="tunelab-load-") as folder,
    ):
        return load_checkpointed(tracking.fetch_checkpoint(ref, tracking_uri, Path(folder)))


def serve_command(
    ref: str, *, host: str, port: int, into: Path, tracking_uri: str | None = None
) -> list[str]:
    """The model `ref` names, verified and downloaded into `into`, and the `mlflow models serve`
    command that serves that copy (not the store's, which could change after the check)."""
    folder = tracking.fetch_verified_model(tracking.client(tracking_uri), ref, into).folder
    return [
        sys.executable, "-m", "mlflow", "models", "serve",
        "-m", str(folder),
        "--env-manager", "local",
        "-h", host,
        "-p", str(port),
    ]  # fmt: skip


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
