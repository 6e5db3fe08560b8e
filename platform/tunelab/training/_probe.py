"""How fast fused groups of each size train on a device: the measurement behind `fusion: auto`.

A group's members differ only in what fusion leaves to each (here their seeds), so one config
stands for them all; each size is timed over whole optimizer steps on the device, as a trial
would take them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from tunelab.data import DataSplits
from tunelab.models import Architecture
from tunelab.training._common import CPU, Device
from tunelab.training._fused import fused_step, member_losses
from tunelab.training._stack import Stack, make_member
from tunelab.training._supervised import loss_fn, train_step

PROBE_S = 0.3  # timed per size, after the warm-up
WARMUP_STEPS = 2  # kernels chosen, memory allocated, caches filled
SATURATED = 1.05  # a size that gains less than this on the one before ends the measurement


def fusion_throughput(
    config: Mapping[str, Any],
    data: DataSplits,
    arch: Architecture,
    *,
    sizes: Sequence[int],
    device: Device = CPU,
    options: Mapping[str, Any] | None = None,
    seconds: float = PROBE_S,
) -> dict[int, float]:
    """Training examples per second, every member's together: 1 for the model alone (as
    `train_supervised` trains it), then each of `sizes` fused, smallest first, until one gains
    under 5% on the size before it or no longer fits in the device's memory."""
    x_train, y_train = device.tensors(data, "train")
    criterion = loss_fn(data.task)
    member = make_member(config, arch, data, report=_ignore, device=device, options=options)
    member.model.to(device.name)  # the same parameters, which its optimizer holds, moved
    clip = float(member.trainer_hp["grad_clip"])
    batch = min(int(member.trainer_hp["batch_size"]), len(y_train))  # the space's, or default
    draw = torch.Generator().manual_seed(0)

    def rows(k: int) -> torch.Tensor:
        return torch.randint(len(y_train), (k, batch), generator=draw).to(device.name)

    index = rows(1)[0]

    def alone() -> None:
        train_step(
            member.model, member.optimizer, criterion, x_train[index], y_train[index], clip, device
        )

    rates = {1: _examples_per_s(alone, batch, seconds, device)}
    for k in sorted(sizes):
        try:
            rates[k] = _examples_per_s(
                _fused(config, data, arch, k, rows(k), device, options), k * batch, seconds, device
            )
        except torch.OutOfMemoryError:
            break  # and larger groups fit no better
        if rates[k] < SATURATED * max(rate for size, rate in rates.items() if size < k):
            break
    return rates


def _fused(
    config: Mapping[str, Any],
    data: DataSplits,
    arch: Architecture,
    k: int,
    picks: torch.Tensor,
    device: Device,
    options: Mapping[str, Any] | None,
) -> Callable[[], Any]:
    """One fused step of k members of `config` (seeds 0 to k - 1), each on its row of `picks`."""
    members = [
        make_member({**config, "seed": seed}, arch, data, _ignore, device, options)
        for seed in range(k)
    ]
    stack = Stack(members, str(members[0].trainer_hp["optimizer"]), device)
    x_train, y_train = device.tensors(data, "train")
    criterion = member_losses(data.task)
    return lambda: fused_step(stack, members, x_train[picks], y_train[picks], criterion, device)


def _examples_per_s(
    step: Callable[[], Any], examples: int, seconds: float, device: Device
) -> float:
    """One step timed, then as many as that says take `seconds` (again, should they take
    less); on a GPU the clock stops when the device has finished, not when the launches are
    queued."""
    for _ in range(WARMUP_STEPS):
        step()
    steps = 1
    while True:
        _synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            step()
        _synchronize(device)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return steps * examples / elapsed
        steps = min(steps * 100, math.ceil(1.1 * steps * seconds / max(elapsed, 1e-6)))


def _synchronize(device: Device) -> None:
    if device.name == "cuda":
        torch.cuda.synchronize()


def _ignore(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
    """A member's report: nothing is reported while measuring."""
