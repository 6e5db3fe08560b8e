"""The supervised training loop: one function, readable top to bottom."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.data import DataSplits
from tunelab.errors import NonFiniteMetricError
from tunelab.models import Architecture
from tunelab.training._contract import TRAINER_HYPERPARAMETERS

# report(epoch, metrics, checkpoint_state): called once per epoch, after validation.
Report = Callable[[int, dict[str, float], dict[str, Any]], None]


def split_hyperparameters(
    config: Mapping[str, Any], arch: Architecture
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer hyperparameters, model hyperparameters), each filled in with its defaults."""
    trainer = {k: config.get(k, v) for k, v in TRAINER_HYPERPARAMETERS.items()}
    model = {k: config.get(k, v) for k, v in arch.hyperparameters.items()}
    return trainer, model


def make_optimizer(params: Any, hp: Mapping[str, Any]) -> torch.optim.Optimizer:
    lr, weight_decay = float(hp["lr"]), float(hp["weight_decay"])
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=float(hp["momentum"]), weight_decay=weight_decay
        )
    if hp["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if hp["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {hp['optimizer']!r}")


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over the whole split, in evaluation mode."""
    model.eval()
    with torch.inference_mode():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def train_supervised(
    config: Mapping[str, Any],
    data: DataSplits,
    arch: Architecture,
    *,
    max_epochs: int,
    report: Report,
    restore: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> None:
    """Train a classifier for up to `max_epochs`, reporting validation metrics every epoch.

    Raises NonFiniteMetricError as soon as a loss is NaN or infinite. `restore` (a checkpoint's
    state) resumes after the epoch it was written at, with the same shuffling it would have had.
    """
    trainer_hp, model_hp = split_hyperparameters(config, arch)
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)
    model = arch.build(model_hp, data.info).to(device)
    optimizer = make_optimizer(model.parameters(), trainer_hp)
    shuffle = torch.Generator().manual_seed(seed)
    first_epoch = 1
    if restore is not None:
        model.load_state_dict(restore["model_state"])
        optimizer.load_state_dict(restore["optimizer_state"])
        shuffle.set_state(restore["shuffle_state"])
        first_epoch = int(restore["epoch"]) + 1

    # These sets are small: keep them as whole tensors on the device, batch by indexing.
    x_train = torch.as_tensor(data.train.x, device=device)
    y_train = torch.as_tensor(data.train.y, device=device)
    x_val = torch.as_tensor(data.val.x, device=device)
    y_val = torch.as_tensor(data.val.y, device=device)
    n_train, batch_size = len(y_train), int(trainer_hp["batch_size"])

    for epoch in range(first_epoch, max_epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        loss_sum, seen = 0.0, 0
        for start in range(0, n_train, batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2 and seen:
                break  # batch norm cannot train on a single example
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
            seen += len(batch)
        train_loss = loss_sum / seen
        val_loss, val_accuracy = evaluate(model, x_val, y_val)
        for name, value in (("train_loss", train_loss), ("val_loss", val_loss)):
            if not math.isfinite(value):
                raise NonFiniteMetricError(name, value, epoch)

        state = {
            "epoch": epoch,
            "config": dict(config),
            "architecture": arch.name,
            "model_hparams": model_hp,
            "data_info": {
                "task": data.task,
                "input_shape": list(data.input_shape),
                "n_classes": data.n_classes,
            },
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "shuffle_state": shuffle.get_state(),
        }
        metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy}
        report(epoch, metrics, state)
