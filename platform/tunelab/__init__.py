"""tunelab: hyperparameter sweeps for PyTorch. Optuna proposes, Ray Tune runs, MLflow records."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
