"""Tracking: the only package that talks to MLflow. The driver is the only writer."""

from __future__ import annotations

from tunelab.tracking._mapping import (
    RUN_STATUS,
    Outcome,
    end_tags,
    first_line,
    metrics_of,
    params_of,
    trial_outcome,
    trial_tags,
)
from tunelab.tracking._sweep import MODEL_ARTIFACT, ModelTemplate, parent_summary_writer
from tunelab.tracking._writer import SWEEP, TrackingError, TrackingWriter

__all__ = [
    "MODEL_ARTIFACT",
    "RUN_STATUS",
    "SWEEP",
    "ModelTemplate",
    "Outcome",
    "TrackingError",
    "TrackingWriter",
    "end_tags",
    "first_line",
    "metrics_of",
    "params_of",
    "parent_summary_writer",
    "trial_outcome",
    "trial_tags",
]
