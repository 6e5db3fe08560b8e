"""A trained model back from its checkpoint: architecture name, hyperparameters, data shape and
state dict, read with `weights_only=True` and rebuilt by calling the architecture; and what it
answers when asked to predict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.data import DataInfo
from tunelab.training._checkpoint import load_checkpoint

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class LoadedModel:
    """A trained model in evaluation mode, on the CPU, with the shape of the data it reads."""

    model: nn.Module
    info: DataInfo
    trainer: str  # "supervised" or "gan"

    def predict(self, inputs: Any) -> Any:
        """Class probabilities, regression values, or a GAN's samples: see `predict`."""
        return predict(self, inputs)


def build_from_state(state: dict[str, Any]) -> LoadedModel:
    from tunelab.plugins import resolve_architecture

    info = DataInfo.from_dict(state["data_info"])
    arch = resolve_architecture(state["architecture"])
    model = arch.build({**arch.hyperparameters, **state["model_hparams"]}, info)
    model.load_state_dict(state["model_state"])
    model.eval()
    return LoadedModel(model, info, str(state.get("trainer", "supervised")))


def load_model(path: str | Path) -> LoadedModel:
    return build_from_state(load_checkpoint(path))


def predict(loaded: LoadedModel, inputs: Any) -> Any:
    """What a served model answers: class probabilities (n, n_classes) for a classifier, values
    (n, 1) for a regressor, one generated example per latent vector for a GAN. Inputs have the
    training data's shape or one flat row per example."""
    import numpy as np
    import torch

    from tunelab.training._trainers import trainer_of

    generates = trainer_of(loaded.trainer).generates
    x = np.asarray(inputs, dtype=np.float32)
    if not generates:
        x = x.reshape(-1, *loaded.info.input_shape)
    with torch.inference_mode():
        out = loaded.model(torch.from_numpy(x))
    if generates:
        return out.numpy()
    if loaded.info.task == "classification":
        return torch.softmax(out, dim=1).numpy()
    return out.reshape(-1, 1).numpy()
