"""Fused training: several supervised trials that share an architecture and a batch size,
trained as one stacked model. Each step runs one batched forward and backward for every member
(a linear layer is one batched matrix product over the members, not one product per member);
each member keeps its own parameters, optimizer (its learning rate, weight decay, momentum),
gradient clipping, data order, dropout rate and random stream, and reports its own metrics and
checkpoints, exactly as `train_supervised` would for it alone.

What makes a member's run the same as its run alone: its model is built after the same seeding,
so it starts from the same weights; its batches come from its own shuffle generator; its dropout
masks are drawn, layer by layer, from a generator that starts where the global one would after
the build; its optimizer is the one `train_supervised` makes. Only the batched products can
differ from the single ones in the last bits of a float.

Supported: the MLP and CNN families (`nn.Sequential`s of Flatten, Linear, Conv2d, BatchNorm2d,
MaxPool2d, activations and Dropout) and the recurrent ones (RNN, LSTM, GRU layers read over the
sequence, dropout between them and on the last step, a linear head). Others are refused by
`unfusable`."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from tunelab.data import DataSplits
from tunelab.errors import NonFiniteMetricError
from tunelab.models import Architecture
from tunelab.training._common import (
    CPU,
    Device,
    Report,
    checkpoint_state,
    load_optimizer,
)
from tunelab.training._contract import (
    MEMBER_HYPERPARAMETERS,
    shared_part,
    unfusable,
)
from tunelab.training._stack import Member, Stack, fused_forward, make_member
from tunelab.training._supervised import latency_ms, validation_metrics


def member_losses(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Each member's mean loss over its batch, as `loss_fn(task)` gives it alone, for all
    members in one call (`out` [K, batch, ...], `y` [K, batch]; the result [K]): one kernel
    for the group, not one per member."""
    if task == "classification":
        return lambda out, y: (
            F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none")
            .view(y.shape)
            .mean(dim=1)
        )
    return lambda out, y: (out.reshape(y.shape) - y).square().mean(dim=1)


def fused_step(
    stack: Stack,
    members: Sequence[Member],
    x: torch.Tensor,
    y: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: Device = CPU,
) -> torch.Tensor:
    """One optimizer step of every member on its own batch (`x` [K, batch, ...], `y` [K,
    batch]); `criterion` is `member_losses(task)`. Returns each member's mean loss, as it would
    be alone."""
    with device.autocast():
        out = fused_forward(stack, members, x).float()
    losses = criterion(out, y)
    for p in stack.params:
        p.grad = None
    losses.sum().backward()  # members share no parameter: each gets its own gradient
    stack.clip_gradients()
    stack.step()
    return losses.detach()


EVALUATED_ROWS = 1 << 16  # examples times members evaluated in one pass


def evaluate_fused(
    stack: Stack,
    members: Sequence[Member],
    x: torch.Tensor,
    y: torch.Tensor,
    task: str,
    device: Device = CPU,
) -> list[dict[str, float]]:
    """Each member's validation metrics, as `evaluate` computes them for its model alone, in
    one fused pass per slice of the split (K copies of the whole split may not fit); the
    outputs come to the host once, where the metrics are read."""
    k = len(members)
    rows = max(1, EVALUATED_ROWS // k)
    outputs = []
    with torch.inference_mode(), device.autocast():
        for start in range(0, len(y), rows):
            part = x[start : start + rows]
            outputs.append(
                fused_forward(stack, members, part.expand(k, *part.shape), training=False).float()
            )
    out, y = torch.cat(outputs, dim=1).cpu(), y.cpu()
    return [validation_metrics(out[row], y, task) for row in range(k)]


def train_fused(
    configs: Sequence[Mapping[str, Any]],
    data: DataSplits,
    arch: Architecture,
    *,
    max_epochs: int,
    reports: Sequence[Report],
    stop: Callable[[int], bool] | None = None,
    failed: Callable[[int, BaseException], None] | None = None,
    device: Device = CPU,
    options: Mapping[str, Any] | None = None,
    restores: Sequence[Mapping[str, Any]] | None = None,
    epoch_end: Callable[[int], None] | None = None,
) -> None:
    """Train each config as `train_supervised` would, all at once. After each epoch's reports,
    `stop(i)` says whether member i stops there; a member whose metrics turn non-finite is
    dropped and `failed(i, error)` told. The group ends when no member is left. `restores`
    (one checkpoint's state per member, all of the same epoch) go on after that epoch, as
    `train_supervised` goes on from one. `epoch_end(epoch)` is called once every member's report
    (or failure) of the epoch is made, before any is asked whether it goes on.

    Long on purpose, as each trainer's loop is: one epoch of the stacked model read top to
    bottom, beside train_supervised's, which it must match step for step (tests compare them)."""
    reason = unfusable(arch)
    if reason is not None:
        raise ValueError(reason)
    if len({shared_part(config) for config in configs}) != 1:
        raise ValueError(
            "the configs of a fused group must differ only in " + ", ".join(MEMBER_HYPERPARAMETERS)
        )
    members = [
        make_member(config, arch, data, report, device, options)
        for config, report in zip(configs, reports, strict=True)
    ]
    first_epoch = 1
    if restores is not None:
        epochs = {int(state["epoch"]) for state in restores}
        if len(epochs) != 1:
            raise ValueError(f"a fused group goes on from one epoch, got {sorted(epochs)}")
        for member, state in zip(members, restores, strict=True):
            member.model.load_state_dict(state["model_state"])
            load_optimizer(member.optimizer, state["optimizer_state"])
            member.shuffle.set_state(state["shuffle_state"])
        first_epoch = epochs.pop() + 1
    active = list(range(len(members)))
    stack = Stack(members, str(members[0].trainer_hp["optimizer"]), device)
    x_train, y_train, x_val, y_val = device.tensors(data, "train", "val")
    n_train = len(y_train)
    batch_size = int(members[0].trainer_hp["batch_size"])
    criterion = member_losses(data.task)
    param_count = float(sum(p.numel() for p in members[0].model.parameters() if p.requires_grad))
    # The time one model of the group's architecture takes to predict is the same for every
    # member (their weights differ, not their shapes): measured once an epoch, on this copy.
    timed = copy.deepcopy(members[0].model).to(device.name)

    for epoch in range(first_epoch, max_epochs + 1):
        group = [members[i] for i in active]
        order = torch.stack([torch.randperm(n_train, generator=m.shuffle) for m in group]).to(
            device.name
        )
        sums = torch.zeros(len(group), device=device.name)
        seen = 0
        for start in range(0, n_train, batch_size):
            index = order[:, start : start + batch_size]
            if index.shape[1] < 2 and seen:
                break  # as train_supervised: no single-example batch
            losses = fused_step(stack, group, x_train[index], y_train[index], criterion, device)
            sums += losses * index.shape[1]
            seen += index.shape[1]
        validation = evaluate_fused(stack, group, x_val, y_val, data.task, device)
        stack.write_back({row: members[number] for row, number in enumerate(active)})
        latency = latency_ms(timed, x_val, device)
        train_losses = [total / seen for total in sums.tolist()]
        reported = []
        for row, number in enumerate(active):
            member = members[number]
            metrics = {
                "train_loss": train_losses[row],
                **validation[row],
                "param_count": param_count,
                "latency_ms": latency,
            }
            bad = [(k, v) for k, v in metrics.items() if not math.isfinite(v)]
            if bad:
                if failed is not None:
                    failed(number, NonFiniteMetricError(bad[0][0], bad[0][1], epoch))
                continue
            state = checkpoint_state(
                epoch=epoch,
                config=member.config,
                arch=arch,
                model_hp=member.model_hp,
                data=data,
                model=member.model,
                optimizer_state=member.optimizer.state_dict(),
                shuffle_state=member.shuffle.get_state(),
            )
            member.report(epoch, metrics, state)
            reported.append(row)
        if epoch_end is not None:
            epoch_end(epoch)
        if epoch == max_epochs:
            return
        # Every member has its result before any is asked whether it goes on.
        going_on = [row for row in reported if stop is None or not stop(active[row])]
        if not going_on:
            return
        if len(going_on) < len(active):
            stack.keep(going_on)
            active = [active[row] for row in going_on]
