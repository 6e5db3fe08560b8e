"""The backend: the only package that imports Ray. It starts or joins Ray, runs a sweep's trials
with Ray Tune (the Optuna searcher, the scheduler, the budget's stopper), and forwards each
trial's events to the sweep as plain data (`TrialEvents`, `TrialResult`). What a trial runs
is `run_trial`, with its in-process system sampler.

Ray's workers import `tunelab.backend._trial`, and with it this package: so the names here are
loaded on first access, and a worker imports Ray Tune's trainable, not its searchers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab import lazy
from tunelab.backend._events import (
    FUSION_KEY,
    RESUME_KEY,
    SCHEDULE_PREFIX,
    Budget,
    Continued,
    EarlierResults,
    RunEnd,
    TrialEvents,
    TrialResult,
)

if TYPE_CHECKING:
    from tunelab.backend._cluster import (
        Cluster,
        NodeType,
        cluster_nodes,
        shutdown_ray,
        start_ray,
    )
    from tunelab.backend._errors import clean_error_line, trial_error_line
    from tunelab.backend._metrics import METRICS, SweepMetrics
    from tunelab.backend._probe import measure_fusion
    from tunelab.backend._run import run_trials, trial_name
    from tunelab.backend._system import SystemSampler
    from tunelab.backend._trial import Reported, checkpoint_dir_at, reported

__getattr__ = lazy.attributes(
    __name__,
    {
        "Cluster": "_cluster",
        "NodeType": "_cluster",
        "cluster_nodes": "_cluster",
        "shutdown_ray": "_cluster",
        "start_ray": "_cluster",
        "clean_error_line": "_errors",
        "trial_error_line": "_errors",
        "METRICS": "_metrics",
        "SweepMetrics": "_metrics",
        "measure_fusion": "_probe",
        "run_trials": "_run",
        "trial_name": "_run",
        "SystemSampler": "_system",
        "checkpoint_dir_at": "_trial",
        "Reported": "_trial",
        "reported": "_trial",
    },
)


__all__ = [
    "FUSION_KEY",
    "METRICS",
    "RESUME_KEY",
    "SCHEDULE_PREFIX",
    "Budget",
    "Cluster",
    "Continued",
    "EarlierResults",
    "NodeType",
    "Reported",
    "RunEnd",
    "SweepMetrics",
    "SystemSampler",
    "TrialEvents",
    "TrialResult",
    "checkpoint_dir_at",
    "clean_error_line",
    "cluster_nodes",
    "measure_fusion",
    "reported",
    "run_trials",
    "shutdown_ray",
    "start_ray",
    "trial_error_line",
    "trial_name",
]
