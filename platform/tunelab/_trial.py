"""The function Ray Tune runs for each trial. Kept apart from `tunelab.tune` so that a worker
process imports only Ray's trainable, torch and the training loop: not Optuna, pydantic or rich."""

from __future__ import annotations

import tempfile
from typing import Any

import ray
from ray import tune

from tunelab.data import DataSplits

# Fields every tunelab trial adds to its per-epoch result.
EPOCH_KEY = "epoch"
NODE_KEY = "node_id"


def run_trial(
    config: dict[str, Any],
    *,
    data: DataSplits,
    architecture: str,
    options: dict[str, Any],
    max_epochs: int,
    threads: int,
    use_gpu: bool,
    system_interval_s: float = 0.0,
) -> None:
    """A Ray Tune function trainable: train, and report metrics and a checkpoint every epoch.
    `options` are the model's fixed options, resolved on the driver (weights included)."""
    import torch

    from tunelab._system import SYSTEM_KEY, SystemSampler
    from tunelab.plugins import resolve_architecture
    from tunelab.training._checkpoint import load_checkpoint, save_checkpoint
    from tunelab.training._common import Device
    from tunelab.training._loops import TRAINERS

    # One torch thread per CPU the trial was given, so concurrent trials do not oversubscribe.
    torch.set_num_threads(threads)
    node_id = ray.get_runtime_context().get_node_id()
    restore = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            restore = load_checkpoint(directory)

    device = Device.pick(use_gpu)
    sampler = SystemSampler(system_interval_s, gpu=device.name == "cuda")

    def report(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory(prefix="tunelab-ckpt-") as directory:
            save_checkpoint(directory, state)
            tune.report(
                {**metrics, EPOCH_KEY: epoch, NODE_KEY: node_id, SYSTEM_KEY: sampler.drain()},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )

    arch = resolve_architecture(architecture)
    with sampler:
        TRAINERS[arch.trainer](
            config,
            data,
            arch,
            max_epochs=max_epochs,
            report=report,
            restore=restore,
            device=device,
            options=options,
        )
