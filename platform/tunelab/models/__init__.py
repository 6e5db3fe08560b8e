"""Model architectures by name. Torch is imported only when a model is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tunelab.models._base import Architecture
from tunelab.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from tunelab.data import DataInfo

architectures: Registry[Architecture] = Registry("model")


def _build_mlp(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models._mlp import build_mlp

    return build_mlp(hp, info)


def _build_cnn(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models._cnn import build_cnn

    return build_cnn(hp, info)


architectures.register(
    "mlp",
    Architecture(
        name="mlp",
        description="multilayer perceptron: depth x width dense layers with dropout",
        tasks=frozenset({"classification"}),
        hyperparameters={"activation": "relu", "depth": 2, "width": 128, "dropout": 0.0},
        build=_build_mlp,
    ),
)
architectures.register(
    "cnn",
    Architecture(
        name="cnn",
        description="convolutional net: depth conv blocks of `channels` filters, one dense layer",
        tasks=frozenset({"classification"}),
        hyperparameters={
            "activation": "relu",
            "depth": 2,
            "channels": 32,
            "width": 64,
            "dropout": 0.0,
        },
        build=_build_cnn,
    ),
)

__all__ = ["Architecture", "architectures"]
