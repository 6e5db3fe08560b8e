"""The supervised training loop (classification and regression): one function, top to bottom."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.data import DataSplits
from tunelab.errors import NonFiniteMetricError
from tunelab.models import Architecture
from tunelab.training._common import (
    CPU,
    Device,
    Report,
    Workers,
    checkpoint_state,
    load_optimizer,
    make_optimizer,
)
from tunelab.training._contract import split_hyperparameters


def loss_fn(task: str) -> Any:
    if task == "classification":
        return F.cross_entropy
    return lambda out, y: F.mse_loss(out.reshape(-1), y)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, device: Device = CPU
) -> dict[str, float]:
    """The validation metrics over a whole split, in evaluation mode (dropout off)."""
    model.eval()
    with torch.inference_mode(), device.autocast():
        out = model(x).float()
    return validation_metrics(out, y, task)


def test_scores(model: nn.Module, data: DataSplits) -> dict[str, float]:
    """test_loss and test_accuracy (classification), test_mse and test_mae (regression), on
    the CPU."""
    x, y = torch.as_tensor(data.test.x), torch.as_tensor(data.test.y)
    return {
        "test_" + name.removeprefix("val_"): value
        for name, value in evaluate(model.cpu(), x, y, data.task).items()
    }


def validation_metrics(out: torch.Tensor, y: torch.Tensor, task: str) -> dict[str, float]:
    """The metrics of a model's outputs over the validation split."""
    if task == "classification":
        return {
            "val_loss": F.cross_entropy(out, y).item(),
            "val_accuracy": (out.argmax(dim=1) == y).float().mean().item(),
        }
    error = out.reshape(-1) - y
    return {"val_mse": error.square().mean().item(), "val_mae": error.abs().mean().item()}


LATENCY_BATCH = 64
LATENCY_REPEATS = 5


def latency_ms(model: nn.Module, x: torch.Tensor, device: Device = CPU) -> float:
    """Median milliseconds to predict one fixed batch, in evaluation mode, after a warm-up."""
    model.eval()
    batch = x[:LATENCY_BATCH]
    times = []
    with torch.inference_mode(), device.autocast():
        model(batch)
        for _ in range(LATENCY_REPEATS):
            if device.name == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            model(batch)
            if device.name == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    clip: float,
    device: Device = CPU,
    weight: float = 1.0,
) -> torch.Tensor:
    """One optimizer step on one batch; returns its loss. A data-parallel worker's loss is
    weighted by its share of the whole batch times the workers, so that the average of the
    workers' gradients is the whole batch's."""
    with device.autocast():
        loss = criterion(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    (loss if weight == 1.0 else loss * weight).backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.detach()


def _parallel(
    model: nn.Module, device: Device, workers: Workers | None, seed: int
) -> tuple[nn.Module, int]:
    """The module that trains (the model, or the model in DistributedDataParallel), and the
    smallest batch it trains on (every worker needs two examples for batch norm)."""
    if workers is None:
        return model, 2
    from torch.nn.parallel import DistributedDataParallel

    if workers.rank > 0:
        torch.manual_seed(seed + workers.rank)  # its own dropout masks, after the same weights
    if device.name == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(
            model, device_ids=[torch.cuda.current_device()]
        ), 2 * workers.size
    return DistributedDataParallel(model), 2 * workers.size


def train_supervised(
    config: Mapping[str, Any],
    data: DataSplits,
    arch: Architecture,
    *,
    max_epochs: int,
    report: Report,
    restore: Mapping[str, Any] | None = None,
    device: Device = CPU,
    options: Mapping[str, Any] | None = None,
    workers: Workers | None = None,
) -> None:
    """Train for up to `max_epochs`, reporting validation metrics and a checkpoint every epoch.

    Raises NonFiniteMetricError as soon as a loss is NaN or infinite. `restore` (a checkpoint's
    state) resumes after the epoch it was written at, with the same shuffling it would have had.
    `options` are the model's resolved fixed options (a transfer source's weights, say).

    With `workers`, this process is one worker of a data-parallel trial (DistributedDataParallel):
    every worker shuffles alike and trains on its slice of each batch, a batch too small to give
    every worker two examples is skipped, and the first worker alone validates, reports and
    checkpoints; the others stop with it when its metrics are not finite. Each worker draws its
    own dropout masks. Batch norm normalizes each worker's slice by its own statistics (on CUDA,
    synchronized batch norm uses the whole batch's).

    Long on purpose, as each trainer's loop is: the whole training read top to bottom (set-up,
    restore, each epoch, validation, checkpoint), the one place a reader checks what a trial does.
    """
    trainer_hp, model_hp = split_hyperparameters(config, arch, options)
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)
    model = arch.build(model_hp, data.info).to(device.name)
    params = arch.param_groups(model, model_hp) if arch.param_groups else model.parameters()
    optimizer = make_optimizer(params, trainer_hp)
    shuffle = torch.Generator().manual_seed(seed)
    first_epoch = 1
    if restore is not None:
        model.load_state_dict(restore["model_state"])
        load_optimizer(optimizer, restore["optimizer_state"])
        shuffle.set_state(restore["shuffle_state"])
        first_epoch = int(restore["epoch"]) + 1
    net, smallest = _parallel(model, device, workers, seed)

    x_train, y_train, x_val, y_val = device.tensors(data, "train", "val")
    n_train, batch_size = len(y_train), int(trainer_hp["batch_size"])
    if workers is not None and batch_size < smallest:
        raise ValueError(
            f"batch_size {batch_size} leaves some of the {smallest // 2} workers fewer than 2 "
            "examples of each batch"
        )
    clip = float(trainer_hp["grad_clip"])
    criterion = loss_fn(data.task)
    param_count = sum(p.numel() for p in model.parameters() if p.requires_grad)

    for epoch in range(first_epoch, max_epochs + 1):
        net.train()
        order = torch.randperm(n_train, generator=shuffle).to(device.name)
        loss_sum, seen = torch.zeros((), device=device.name), 0
        for start in range(0, n_train, batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < smallest and seen:
                break  # batch norm cannot train on a single example
            mine, weight = batch, 1.0
            if workers is not None:
                mine = workers.part(batch)
                weight = len(mine) * workers.size / len(batch)
            loss = train_step(
                net, optimizer, criterion, x_train[mine], y_train[mine], clip, device, weight
            )
            # Summed on the device: no host sync per batch.
            loss_sum += loss * len(mine)
            seen += len(mine)
        if workers is None:
            train_loss = loss_sum.item() / seen
        else:
            summed, count = workers.total(loss_sum, torch.tensor(float(seen)))
            train_loss = summed / count
            if workers.rank > 0:
                if not workers.all_agree(math.isfinite(train_loss), device.name):
                    return  # the first worker raises the error
                continue
        metrics = {
            "train_loss": train_loss,
            **evaluate(model, x_val, y_val, data.task, device),
            "param_count": float(param_count),
            "latency_ms": latency_ms(model, x_val, device),
        }
        bad = [(name, value) for name, value in metrics.items() if not math.isfinite(value)]
        if workers is not None:
            workers.all_agree(not bad, device.name)
        if bad:
            raise NonFiniteMetricError(bad[0][0], bad[0][1], epoch)

        state = checkpoint_state(
            epoch=epoch,
            config=config,
            arch=arch,
            model_hp=model_hp,
            data=data,
            model=model,
            optimizer_state=optimizer.state_dict(),
            shuffle_state=shuffle.get_state(),
        )
        report(epoch, metrics, state)
