"""tunelab: hyperparameter sweeps for PyTorch. Optuna proposes, Ray Tune runs, MLflow records.

The Python API, which the `tunelab` command is built on::

    import tunelab

    result = tunelab.sweep("search_spaces/mlp_digits.yaml", trials=8, max_epochs=5)
    result.best, result.trials            # the best trial; every trial as a DataFrame
    tunelab.report(result.sweep)          # Captum's report on the best trial
    tunelab.promote(result.sweep, model_name="digits")
    model = tunelab.load_model("models:/digits@champion")
    model.predict(x)

Bad input raises a `TunelabError` subclass whose message is the line the command prints.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunelab._api import (
    list_datasets,
    list_models,
    load_model,
    model_history,
    promote,
    register_dataset,
    register_model,
    report,
    reproduce,
    rollback,
    sweep,
    validate,
)
from tunelab.errors import TunelabError
from tunelab.version import __version__

if TYPE_CHECKING:
    from tunelab.sweeps import SweepResult

# The types results come as, loaded on first access: `import tunelab` stays light.
_TYPES = {"SweepResult": "tunelab.sweeps"}


def __getattr__(name: str) -> Any:
    module = _TYPES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "SweepResult",
    "TunelabError",
    "__version__",
    "list_datasets",
    "list_models",
    "load_model",
    "model_history",
    "promote",
    "register_dataset",
    "register_model",
    "report",
    "reproduce",
    "rollback",
    "sweep",
    "validate",
]
