from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from tunelab.data import DataInfo


def _mlp(
    fan_in: int, width: int, depth: int, fan_out: int, leak: float, dropout: float = 0.0
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.LeakyReLU(leak)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


class GAN(nn.Module):
    """A generator from `latent_size` noise to examples in [0, 1] of the data's shape, and a
    discriminator scoring an example real (logit > 0) or generated. `forward(z)` generates."""

    def __init__(self, hp: Mapping[str, Any], info: DataInfo) -> None:
        super().__init__()
        self.latent_size = int(hp["latent_size"])
        self.example_shape = tuple(info.input_shape)
        size = math.prod(info.input_shape)
        self.generator = nn.Sequential(
            _mlp(self.latent_size, int(hp["g_width"]), int(hp["depth"]), size, 0.2), nn.Sigmoid()
        )
        self.discriminator = nn.Sequential(
            nn.Flatten(),
            _mlp(size, int(hp["d_width"]), int(hp["depth"]), 1, 0.2, float(hp["d_dropout"])),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z).view(-1, *self.example_shape)


def build_gan(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    return GAN(hp, info)
