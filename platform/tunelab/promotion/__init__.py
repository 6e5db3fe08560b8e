"""Promotion: the sweep's best model registered, scored on the test split, and made the
champion when the gates pass; rollback; retraining a trial to check it reproduces; and the
models a user loads and inspects afterwards. Every decision is recorded in the registry."""

from __future__ import annotations

from tunelab.promotion._evaluation import data_fingerprint, evaluate_on_test, metric_on_test_split
from tunelab.promotion._gates import Gate, beats_champion, feasible, interpretable, reproducible
from tunelab.promotion._models import (
    ModelHistory,
    VersionInfo,
    load_model,
    model_history,
    serve_command,
)
from tunelab.promotion._promote import (
    Decision,
    code_version,
    picked,
    promote,
    rollback,
)
from tunelab.promotion._reproduce import REPRODUCIBLE_RTOL, Reproduction, reproduce

__all__ = [
    "REPRODUCIBLE_RTOL",
    "Decision",
    "Gate",
    "ModelHistory",
    "Reproduction",
    "VersionInfo",
    "beats_champion",
    "code_version",
    "data_fingerprint",
    "evaluate_on_test",
    "feasible",
    "interpretable",
    "load_model",
    "metric_on_test_split",
    "model_history",
    "picked",
    "promote",
    "reproduce",
    "reproducible",
    "rollback",
    "serve_command",
]
