"""A trained model as data: architecture name, hyperparameters, data shape and state dict.
Rebuilt by calling the architecture, loaded with `weights_only=True`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tunelab.data import DataInfo
from tunelab.training._checkpoint import load_checkpoint


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module
    info: DataInfo
    trainer: str  # "supervised" or "gan"


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
