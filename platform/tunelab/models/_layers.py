from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}
# Modules that start a new layer; others holding parameters (batch norm) belong to the layer
# before them.
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.RNNBase, nn.Embedding)


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def layer_groups(model: nn.Module) -> list[list[nn.Module]]:
    """The model's layers in order, each a weight layer and the normalisation after it. The last
    group is the head."""
    groups: list[list[nn.Module]] = []
    for module in model.modules():
        if isinstance(module, WEIGHT_LAYERS):
            groups.append([module])
        elif groups and not list(module.children()) and any(True for _ in module.parameters()):
            groups[-1].append(module)
    return groups


def replace_head(model: nn.Module, n_outputs: int) -> nn.Module:
    """Swap the last linear layer for a fresh one with `n_outputs` outputs."""
    last_name, last = None, None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name, last = name, module
    if last_name is None or last is None:
        raise ValueError("the source model has no linear output layer to replace")
    parent = model.get_submodule(last_name.rpartition(".")[0])
    setattr(parent, last_name.rpartition(".")[2], nn.Linear(last.in_features, n_outputs))
    return model
