"""`fusion: auto`'s measurement, run where a fused group would train: a Ray task holding one
group's resources (a GPU, if trials have one), on whichever node Ray places it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray

from tunelab.data import DataSplits
from tunelab.errors import TunelabError, cause_of
from tunelab.models import Architecture


def measure_fusion(
    config: dict[str, Any],
    *,
    data: DataSplits,
    architecture: Architecture,
    options: dict[str, Any],
    sizes: Sequence[int],
    cpu: float,
    gpu: float,
) -> tuple[str, dict[int, float]]:
    """The device measured on ("cpu", "cuda") and its training examples per second by fused
    group size (1: one model alone), as `training.fusion_throughput` measures them."""
    task = ray.remote(
        num_cpus=cpu,
        num_gpus=gpu,
        max_calls=1,  # its process (torch, a CUDA context) ends with it
    )(_measure)
    try:
        return ray.get(task.remote(config, data, architecture, options, list(sizes), cpu, gpu))
    except ray.exceptions.RayTaskError as exc:
        raise TunelabError(
            f"fusion: auto could not measure fused training: {cause_of(exc.cause)}"
        ) from None


def _measure(
    config: dict[str, Any],
    data: DataSplits,
    architecture: Architecture,
    options: dict[str, Any],
    sizes: list[int],
    cpu: float,
    gpu: float,
) -> tuple[str, dict[int, float]]:
    import torch

    from tunelab.training import Device, fusion_throughput

    torch.set_num_threads(max(1, int(cpu)))  # as a group's trainer
    device = Device.pick(gpu > 0)
    return device.name, fusion_throughput(
        config, data, architecture, sizes=sizes, device=device, options=options
    )
