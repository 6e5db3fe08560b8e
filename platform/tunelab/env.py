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
