"""The function Ray Tune runs for each trial. Kept apart from the Tuner's wiring so that a worker
process imports only Ray's trainable, torch and the training loop: not Optuna, pydantic or rich."""

from __future__ import annotations

import tempfile
from typing import Any

import ray
from ray import tune

from tunelab.data import DataSplits
from tunelab.models import Architecture

# Fields every tunelab trial adds to its per-epoch result.
EPOCH_KEY = "epoch"
NODE_KEY = "node_id"


def run_trial(
    config: dict[str, Any],
    *,
    data: DataSplits,
    architecture: Architecture,
    options: dict[str, Any],
    max_epochs: int,
    threads: int,
    use_gpu: bool,
    system_interval_s: float = 0.0,
) -> None:
    """A Ray Tune function trainable: train, and report metrics and a checkpoint every epoch.
    `architecture` and `options` (the model's fixed options, weights included) are resolved on
    the driver, so a model registered there in-process trains here too."""
    import torch

    from tunelab.backend._system import SYSTEM_KEY, SystemSampler
    from tunelab.training import Device, load_checkpoint, save_checkpoint, train

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

    with sampler:
        train(
            config,
            data,
            architecture,
            max_epochs=max_epochs,
            report=report,
            restore=restore,
            device=device,
            options=options,
        )
