from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from tunelab.data import DataInfo
from tunelab.models._layers import activation


def build_mlp(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    """`depth` hidden layers of `width` units, each followed by the activation and dropout.
    Any input shape is flattened first: tables, images and sequences alike."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(info.input_shape)
    for _ in range(int(hp["depth"])):
        layers += [nn.Linear(fan_in, int(hp["width"])), activation(hp["activation"])]
        if hp["dropout"] > 0:
            layers.append(nn.Dropout(float(hp["dropout"])))
        fan_in = int(hp["width"])
    layers.append(nn.Linear(fan_in, info.n_outputs))
    return nn.Sequential(*layers)
