"""Model architectures by name. Torch is imported only when a model is built (and when a
torch-bound name, such as `layer_groups`, is first used)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tunelab import lazy
from tunelab.models._base import (
    ACTIVATION_NAMES,
    COUNT,
    FRACTION,
    FREEZE_STRATEGIES,
    INIT_CHOICES,
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    Architecture,
    Range,
    as_architecture,
)
from tunelab.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from tunelab.data import DataInfo
    from tunelab.models._gan import GAN
    from tunelab.models._layers import layer_groups

architectures: Registry[Architecture] = Registry(
    "model", entry_point_group="tunelab.models", adapt=as_architecture
)


def _build_mlp(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models._mlp import build_mlp

    return build_mlp(hp, info)


def _build_cnn(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models._cnn import build_cnn

    return build_cnn(hp, info)


def _recurrent(cell: str) -> Any:
    def build(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
        from tunelab.models._recurrent import build_recurrent

        return build_recurrent(cell, hp, info)

    return build


def _build_gan(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models._gan import build_gan

    return build_gan(hp, info)


def _build_transfer(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models._transfer import build_transfer

    return build_transfer(hp, info)


def _transfer_param_groups(model: nn.Module, hp: Mapping[str, Any]) -> list[dict[str, Any]]:
    from tunelab.models._transfer import transfer_param_groups

    return transfer_param_groups(model, hp)


RECURRENT_HYPERPARAMETERS = {"depth": 1, "hidden": 64, "dropout": 0.0}
RECURRENT_RANGES = {"depth": COUNT, "hidden": COUNT, "dropout": PROBABILITY}

for _arch in (
    Architecture(
        "mlp",
        "multilayer perceptron: depth x width dense layers with dropout; any input, flattened",
        _build_mlp,
        {"activation": "relu", "depth": 2, "width": 128, "dropout": 0.0},
        ranges={"depth": NON_NEGATIVE, "width": COUNT, "dropout": PROBABILITY},
    ),
    Architecture(
        "cnn",
        "convolutional net: depth conv blocks of `channels` filters, one dense layer",
        _build_cnn,
        {"activation": "relu", "depth": 2, "channels": 32, "width": 64, "dropout": 0.0},
        inputs=frozenset({"image"}),
        ranges={"depth": NON_NEGATIVE, "channels": COUNT, "width": COUNT, "dropout": PROBABILITY},
    ),
    Architecture(
        "rnn",
        "vanilla (tanh) recurrent net read over the sequence; the last step predicts",
        _recurrent("rnn"),
        RECURRENT_HYPERPARAMETERS,
        inputs=frozenset({"sequence"}),
        ranges=RECURRENT_RANGES,
    ),
    Architecture(
        "lstm",
        "LSTM read over the sequence (forget gates biased open); the last step predicts",
        _recurrent("lstm"),
        RECURRENT_HYPERPARAMETERS,
        inputs=frozenset({"sequence"}),
        ranges=RECURRENT_RANGES,
    ),
    Architecture(
        "gru",
        "GRU read over the sequence; the last step predicts",
        _recurrent("gru"),
        RECURRENT_HYPERPARAMETERS,
        inputs=frozenset({"sequence"}),
        ranges=RECURRENT_RANGES,
    ),
    Architecture(
        "gan",
        "generator and discriminator trained together; scored by Frechet distance (lower wins)",
        _build_gan,
        {"latent_size": 32, "g_width": 128, "d_width": 128, "depth": 2, "d_dropout": 0.3},
        tasks=frozenset({"classification"}),
        inputs=frozenset({"image", "tabular"}),
        trainer="gan",
        ranges={
            "latent_size": COUNT,
            "g_width": COUNT,
            "d_width": COUNT,
            "depth": NON_NEGATIVE,
            "d_dropout": PROBABILITY,
        },
    ),
    Architecture(
        "transfer",
        "a source model's body with a new head: freeze strategy, head/body learning rates",
        _build_transfer,
        {
            "init": "pretrained",
            "freeze": "partial",
            "trainable_layers": 2,
            "lr_head": 1e-2,
            "lr_body": 1e-2,
        },
        options={"source": "reference:digits_0_4"},
        param_groups=_transfer_param_groups,
        ranges={"trainable_layers": NON_NEGATIVE, "lr_head": POSITIVE, "lr_body": POSITIVE},
    ),
):
    architectures.register(_arch.name, _arch)

BUILTIN_ARCHITECTURES = frozenset(architectures)

# Imported, with torch, on first access.
__getattr__ = lazy.attributes(__name__, {"GAN": "_gan", "layer_groups": "_layers"})


__all__ = [
    "ACTIVATION_NAMES",
    "BUILTIN_ARCHITECTURES",
    "COUNT",
    "FRACTION",
    "FREEZE_STRATEGIES",
    "GAN",
    "INIT_CHOICES",
    "NON_NEGATIVE",
    "POSITIVE",
    "PROBABILITY",
    "Architecture",
    "Range",
    "architectures",
    "as_architecture",
    "layer_groups",
]
