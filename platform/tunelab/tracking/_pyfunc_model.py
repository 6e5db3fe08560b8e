"""MLflow "models from code" entry point for tunelab models.

MLflow executes this file to load the model, instead of unpickling a Python object; the weights
come from the logged checkpoint, read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class TunelabModel(PythonModel):
    """A classifier predicts class probabilities, (n, n_classes); a regressor its values, (n, 1);
    inputs have the training data's shape or are flattened to one row per example. A GAN
    generates one example per latent vector given."""

    def load_context(self, context: Any) -> None:
        from tunelab.training import load_model

        self.loaded = load_model(context.artifacts["checkpoint"])

    # No type hints on predict: MLflow would read them as an input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        from tunelab.training import predict

        return predict(self.loaded, model_input)


mlflow.models.set_model(TunelabModel())
