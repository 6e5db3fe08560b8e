"""Training loops by the name an architecture gives in `Architecture.trainer`. Each loop is
imported when it is used, so naming one costs no torch import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.data import DataSplits
    from tunelab.models import Architecture
    from tunelab.training._common import Device, Report, Workers

TRAINER_NAMES = ("supervised", "gan")


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
    if arch.trainer == "gan":
        if workers is not None:
            raise ValueError("the gan trainer trains on one worker")
        from tunelab.training._gan import train_gan as loop
    elif arch.trainer == "supervised":
        from tunelab.training._supervised import train_supervised as loop
    else:
        raise ValueError(f"unknown trainer {arch.trainer!r}; trainers: {', '.join(TRAINER_NAMES)}")
    from tunelab.training._common import CPU

    loop(
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
