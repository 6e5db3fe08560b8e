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
    """Predicts class probabilities, shape (n, n_classes), for inputs of the training data's shape
    (or flattened to one row per example)."""

    def load_context(self, context: Any) -> None:
        from tunelab.tracking._torch_model import load_model

        self.model, self.info = load_model(context.artifacts["checkpoint"])

    # No type hints on predict: MLflow would read them as an input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import torch

        x = np.asarray(model_input, dtype=np.float32).reshape(-1, *self.info.input_shape)
        with torch.inference_mode():
            return torch.softmax(self.model(torch.from_numpy(x)), dim=1).numpy()


mlflow.models.set_model(TunelabModel())
