"""Every environment variable tunelab reads, declared once with its type and meaning."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class _Var:
    name: str
    doc: str

    def get(self) -> str | None:
        value = os.environ.get(self.name)
        return value if value else None


MLFLOW_TRACKING_URI = _Var(
    "MLFLOW_TRACKING_URI", "Tracking store when --tracking-uri is not given."
)
RAY_ADDRESS = _Var("RAY_ADDRESS", "Ray cluster to join when --address is not given.")
TUNELAB_RESULTS_DIR = _Var(
    "TUNELAB_RESULTS_DIR",
    "Where Ray keeps trial checkpoints and the Optuna study (default ./tunelab_results). "
    "On a multi-machine cluster this must be shared storage (NFS path or s3:// URI).",
)
TUNELAB_DATABASE_URI = _Var(
    "TUNELAB_DATABASE_URI",
    "PostgreSQL database of server mode (postgresql://USER:PASSWORD@HOST:PORT/DB): the tracking "
    "server's store, and the sweeps' Optuna studies (schema `optuna`). Set it on the server and "
    "where sweeps are launched.",
)
TUNELAB_ARTIFACTS_DESTINATION = _Var(
    "TUNELAB_ARTIFACTS_DESTINATION",
    "Where `tunelab server` keeps artifacts it serves (a folder or s3:// URI; default "
    "./tunelab_artifacts).",
)
TUNELAB_SERVER_HOST = _Var(
    "TUNELAB_SERVER_HOST", "Address `tunelab server` listens on (127.0.0.1)."
)
TUNELAB_SERVER_PORT = _Var("TUNELAB_SERVER_PORT", "Port `tunelab server` listens on (5000).")
TUNELAB_TRACKING_GIVE_UP_S = _Var(
    "TUNELAB_TRACKING_GIVE_UP_S",
    "At the end of a sweep, how long to wait for an unreachable tracking store before giving up "
    "(default 120); what is still pending stays in the sweep's tracking_spool.jsonl.",
)
