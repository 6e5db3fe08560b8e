"""A trial's training: the loop of the trainer its architecture names (`Architecture.trainer`,
see _trainers), imported when it is used, so naming one costs no torch import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tunelab.training._trainers import trainer_of

if TYPE_CHECKING:
    from tunelab.data import DataSplits
    from tunelab.models import Architecture
    from tunelab.training._common import Device, Report, Workers


def train(
    config: Mapping[str, Any],
    data: DataSplits,
    arch: Architecture,
    *,
    max_epochs: int,
    report: Report,
    restore: Mapping[str, Any] | None = None,
    device: Device | None = None,
    options: Mapping[str, Any] | None = None,
    workers: Workers | None = None,
) -> None:
    """Train `arch` with its loop for up to `max_epochs`, calling `report(epoch, metrics,
    checkpoint_state)` after every epoch; on `device` (default: the CPU); as one of
    data-parallel `workers` (the supervised loop)."""
    trainer = trainer_of(arch.trainer)
    if workers is not None and not trainer.data_parallel:
        raise ValueError(f"the {trainer.name} trainer trains on one worker")
    from tunelab.training._common import CPU

    trainer.train(
        config,
        data,
        arch,
        max_epochs=max_epochs,
        report=report,
        restore=restore,
        device=device or CPU,
        options=options,
        **({"workers": workers} if workers is not None else {}),
    )
