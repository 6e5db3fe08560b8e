from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from tunelab.data import DataInfo
from tunelab.models._layers import activation

# Small inputs (8x8 digits) survive two 2x poolings; deeper blocks keep the spatial size.
MAX_POOLED_BLOCKS = 2


def build_cnn(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    """`depth` conv blocks (3x3 conv, batch norm, activation; 2x2 pooling on the first two),
    then a dense layer of `width` units with dropout and the classifier."""
    in_channels, height, width = info.input_shape
    channels = int(hp["channels"])
    layers: list[nn.Module] = []
    for block in range(int(hp["depth"])):
        layers += [
            nn.Conv2d(in_channels, channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(channels),
            activation(hp["activation"]),
        ]
        if block < MAX_POOLED_BLOCKS and min(height, width) >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        in_channels = channels
    layers += [
        nn.Flatten(),
        nn.Linear(in_channels * height * width, int(hp["width"])),
        activation(hp["activation"]),
        nn.Dropout(float(hp["dropout"])),
        nn.Linear(int(hp["width"]), info.n_outputs),
    ]
    return nn.Sequential(*layers)
