"""A trained model as data: architecture name, hyperparameters, data shape and state dict.
Rebuilt by calling the registered architecture, loaded with `weights_only=True`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from tunelab.data import DataInfo
from tunelab.models import architectures
from tunelab.training._checkpoint import load_checkpoint


def build_from_state(state: dict[str, Any]) -> tuple[nn.Module, DataInfo]:
    info = DataInfo(
        task=state["data_info"]["task"],
        input_shape=tuple(state["data_info"]["input_shape"]),
        n_classes=int(state["data_info"]["n_classes"]),
    )
    model = architectures.get(state["architecture"]).build(state["model_hparams"], info)
    model.load_state_dict(state["model_state"])
    model.eval()
    return model, info


def load_model(path: str | Path) -> tuple[nn.Module, DataInfo]:
    return build_from_state(load_checkpoint(path))
