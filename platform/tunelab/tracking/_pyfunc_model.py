"""MLflow "models from code" entry point for tunelab models.

MLflow executes this file to load the model, instead of unpickling a Python object; the weights
come from the logged checkpoint, read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class TunelabModel(PythonModel):
    """A classifier predicts class probabilities, (n, n_classes); a regressor its values, (n, 1);
    inputs have the training data's shape or are flattened to one row per example. A GAN
    generates one example per latent vector given."""

    def load_context(self, context: Any) -> None:
        from tunelab.training import load_model

        self.loaded = load_model(context.artifacts["checkpoint"])

    # Typed as an array, from which MLflow infers no schema (the signature logged with the model
    # is the schema); untyped, MLflow warns on every load.
    def predict(
        self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        from tunelab.training import predict

        return predict(self.loaded, model_input)


mlflow.models.set_model(TunelabModel())
