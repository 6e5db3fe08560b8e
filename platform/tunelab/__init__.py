"""tunelab: hyperparameter sweeps for PyTorch. Optuna proposes, Ray Tune runs, MLflow records.

The Python API, which the `tunelab` command is built on::

    import tunelab

    result = tunelab.sweep("search_spaces/mlp_digits.yaml", trials=8, max_epochs=5)
    result.best, result.trials            # the best trial; every trial as a DataFrame
    tunelab.report(result.sweep)          # Captum's report on the best trial
    tunelab.promote(result.sweep, "digits")
    model = tunelab.load_model("models:/digits@champion")
    model.predict(x)

Bad input raises a `TunelabError` subclass whose message is the line the command prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab import lazy
from tunelab._api import (
    check_sweep,
    list_datasets,
    list_models,
    register_dataset,
    register_model,
    resume,
    sweep,
    validate,
)
from tunelab.errors import TunelabError
from tunelab.version import __version__

if TYPE_CHECKING:
    from tunelab.promotion import load_model, model_history, promote, reproduce, rollback
    from tunelab.reports import make_report as report
    from tunelab.sweeps import SweepResult, close_sweep, list_sweeps

# The packages' own functions, loaded on first use: `import tunelab` stays light.
__getattr__ = lazy.attributes(
    __name__,
    {
        "report": "tunelab.reports:make_report",
        "promote": "tunelab.promotion",
        "rollback": "tunelab.promotion",
        "reproduce": "tunelab.promotion",
        "load_model": "tunelab.promotion",
        "model_history": "tunelab.promotion",
        "SweepResult": "tunelab.sweeps",
        "list_sweeps": "tunelab.sweeps",
        "close_sweep": "tunelab.sweeps",
    },
)


__all__ = [
    "SweepResult",
    "TunelabError",
    "__version__",
    "check_sweep",
    "close_sweep",
    "list_datasets",
    "list_models",
    "list_sweeps",
    "load_model",
    "model_history",
    "promote",
    "register_dataset",
    "register_model",
    "report",
    "reproduce",
    "resume",
    "rollback",
    "sweep",
    "validate",
]
