"""Data-parallel training: a trial trained by two gloo workers, each on half of every batch,
ends as the same trial trained alone on the whole batches."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tunelab.data import datasets
from tunelab.models import architectures
from tunelab.training import Workers
from tunelab.training._supervised import train_supervised

EPOCHS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _train(
    rank: int, size: int, port: int, model: str, dataset: str, config: dict[str, Any], out: str
) -> None:
    """One worker (spawned): joins the group, trains, and the first writes what it reported."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size
    )
    try:
        reported: list[tuple[dict[str, float], dict[str, torch.Tensor]]] = []
        train_supervised(
            config, datasets.get(dataset).load(), architectures.get(model), max_epochs=EPOCHS,
            report=lambda _, metrics, state: reported.append((metrics, state["model_state"])),
            workers=Workers.joined(),
        )  # fmt: skip
        if rank == 0:
            torch.save(reported, out)
        else:
            assert reported == []  # only the first worker reports
        dist.barrier()  # neither leaves the group while the other may still be talking to it
    finally:
        dist.destroy_process_group()


def _alone(model: str, dataset: str, config: dict[str, Any]) -> list[Any]:
    reported: list[Any] = []
    train_supervised(
        config, datasets.get(dataset).load(), architectures.get(model), max_epochs=EPOCHS,
        report=lambda _, metrics, state: reported.append((metrics, state["model_state"])),
    )  # fmt: skip
    return reported


@pytest.mark.parametrize(
    ("model", "dataset", "config"),
    [
        ("mlp", "breast_cancer", {"depth": 2, "width": 32, "batch_size": 64, "lr": 3e-3}),
        ("lstm", "digits_rows", {"hidden": 16, "batch_size": 48, "lr": 1e-2, "grad_clip": 1.0}),
    ],
)
def test_two_workers_train_as_one_on_the_whole_batch(
    model: str, dataset: str, config: dict[str, Any], tmp_path: Path
) -> None:
    """Without dropout or batch norm, a worker's half-batch gradients averaged are the whole
    batch's: parameters and metrics agree to float rounding (summing two halves rounds
    differently from summing the whole), compounded over every step of 3 epochs."""
    config = {**config, "dropout": 0.0, "seed": 3}
    out = tmp_path / "reported.pt"
    mp.spawn(_train, args=(2, _free_port(), model, dataset, config, str(out)), nprocs=2)
    parallel = torch.load(out)
    alone = _alone(model, dataset, config)
    assert len(parallel) == len(alone) == EPOCHS
    for (p_metrics, p_state), (a_metrics, a_state) in zip(parallel, alone, strict=True):
        for name in ("train_loss", "val_loss", "val_accuracy"):
            assert p_metrics[name] == pytest.approx(a_metrics[name], rel=1e-4), name
        for key, tensor in a_state.items():
            torch.testing.assert_close(p_state[key], tensor, rtol=1e-4, atol=1e-5)
    # and the trial did learn: the check is not between two models that barely moved
    assert alone[-1][0]["val_loss"] < 0.9 * alone[0][0]["val_loss"]
