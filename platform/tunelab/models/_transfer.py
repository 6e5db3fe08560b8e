"""Transfer learning: the source model's body, a fresh head, and a freeze strategy.

`hp["source"]` describes the source model: its architecture, hyperparameters and data shape,
and (for `init: pretrained`) its weights under `model_state`. Checkpoints record the description
without the weights, which are in the checkpoint's own state dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from tunelab.data import DataInfo
from tunelab.models._layers import layer_groups, replace_head


def build_transfer(hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    from tunelab.models import architectures

    source = hp["source"]
    if not isinstance(source, Mapping) or "architecture" not in source:
        raise ValueError("model option 'source' was not resolved to a source model")
    source_info = DataInfo.from_dict(source["data_info"])
    if tuple(source_info.input_shape) != tuple(info.input_shape):
        raise ValueError(
            f"the source model takes inputs shaped {source_info.input_shape}, "
            f"the data is shaped {info.input_shape}"
        )
    arch = architectures.get(source["architecture"])
    model = arch.build({**arch.hyperparameters, **source["model_hparams"]}, source_info)
    if hp["init"] == "pretrained" and "model_state" in source:
        model.load_state_dict(source["model_state"])
    replace_head(model, info.n_outputs)
    groups = layer_groups(model)
    trainable = {
        "none": len(groups),
        "backbone": 1,
        "partial": max(1, int(hp["trainable_layers"])),
    }[hp["freeze"]]
    return FineTuned(model, [m for group in groups[: len(groups) - trainable] for m in group])


class FineTuned(nn.Module):
    """The source network with some layers frozen. A frozen layer keeps its weights and, for
    batch norm, the source's running statistics: it stays in evaluation mode while the rest
    trains, as a frozen feature extractor must."""

    def __init__(self, net: nn.Module, frozen: list[nn.Module]) -> None:
        super().__init__()
        self.net = net
        self._frozen = frozen  # a plain list: not registered twice as submodules
        for module in frozen:
            module.requires_grad_(False)

    def train(self, mode: bool = True) -> FineTuned:
        super().train(mode)
        for module in self._frozen:
            module.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]


def transfer_param_groups(model: nn.Module, hp: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The head learns at `lr_head`, the unfrozen body at `lr_body`."""
    groups = layer_groups(model)
    head = [p for m in groups[-1] for p in m.parameters() if p.requires_grad]
    body = [p for g in groups[:-1] for m in g for p in m.parameters() if p.requires_grad]
    param_groups = [{"params": head, "lr": float(hp["lr_head"])}]
    if body:
        param_groups.append({"params": body, "lr": float(hp["lr_body"])})
    return param_groups
