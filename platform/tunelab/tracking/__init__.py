"""Tracking: the only package that talks to MLflow.

During a sweep the driver is the only writer (`TrackingWriter`: queued, batched, kept on disk
through an outage). Afterwards, commands read what was recorded (lookups of runs, sweeps and
versions), fetch models, and move the registry's aliases. Every name recorded is in `tracking.tags`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab.tracking._artifacts import ModelTemplate, WriterCall, folder_writer
from tunelab.tracking._integrity import (
    VerifiedModel,
    fetch_verified_model,
    folder_digest,
    verified_checkpoint,
)
from tunelab.tracking._lookup import (
    RUN_ID,
    all_sweeps,
    all_trials,
    by_epoch,
    client,
    end_run,
    find_sweep,
    get_run,
    last_metric,
    last_point,
    log_folder,
    log_points,
    model_version,
    sweep_spec,
    sweep_summary,
    sweep_trials,
    trial_spec,
)
from tunelab.tracking._mapping import (
    config_of,
    metrics_of,
    params_of,
    sweep_tags,
    trial_tags,
)
from tunelab.tracking._registry import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    aliases,
    append_event,
    check_tag_values,
    history,
    register_version,
    set_alias,
    tag_version,
    versions,
)
from tunelab.tracking._server import (
    AUTH_SCHEMA,
    DEFAULT_ARTIFACTS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServerConfig,
    check_database,
    default_tracking_uri,
    prepare_database,
    redact,
    refused_access,
    split_password,
    ui_command,
    with_schema,
)
from tunelab.tracking._sources import fetch_checkpoint, is_stored, load_source
from tunelab.tracking._spool import SpoolState
from tunelab.tracking._summary import (
    parent_summary_writer,
    spec_writer,
)
from tunelab.tracking._ui import ViewSaver, experiments_page, sweep_page
from tunelab.tracking._writer import SWEEP, TrackingWriter, replay_kept
from tunelab.tracking.tags import MODEL_ARTIFACT, SPEC_ARTIFACT, SUMMARY_ARTIFACT, VIEWS_ARTIFACT

if TYPE_CHECKING:
    # For annotations outside this package: a tracking store's client.
    from mlflow import MlflowClient as Client  # noqa: F401

__all__ = [
    "AUTH_SCHEMA",
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_ARTIFACTS",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MODEL_ARTIFACT",
    "RUN_ID",
    "SPEC_ARTIFACT",
    "SUMMARY_ARTIFACT",
    "SWEEP",
    "VIEWS_ARTIFACT",
    "ModelTemplate",
    "ServerConfig",
    "SpoolState",
    "TrackingWriter",
    "VerifiedModel",
    "ViewSaver",
    "WriterCall",
    "alias_version",
    "aliases",
    "all_sweeps",
    "all_trials",
    "append_event",
    "by_epoch",
    "check_database",
    "check_tag_values",
    "client",
    "config_of",
    "default_tracking_uri",
    "end_run",
    "experiments_page",
    "fetch_checkpoint",
    "fetch_verified_model",
    "find_sweep",
    "folder_digest",
    "folder_writer",
    "get_run",
    "history",
    "is_stored",
    "last_metric",
    "last_point",
    "load_source",
    "log_folder",
    "log_points",
    "metrics_of",
    "model_version",
    "params_of",
    "parent_summary_writer",
    "prepare_database",
    "redact",
    "refused_access",
    "register_version",
    "replay_kept",
    "set_alias",
    "spec_writer",
    "split_password",
    "sweep_page",
    "sweep_spec",
    "sweep_summary",
    "sweep_tags",
    "sweep_trials",
    "tag_version",
    "trial_spec",
    "trial_tags",
    "ui_command",
    "verified_checkpoint",
    "versions",
    "with_schema",
]
