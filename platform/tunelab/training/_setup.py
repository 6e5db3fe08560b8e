"""What every trial of a sweep trains with: one value, made once on the driver where the trainable
is made (backend/_run.py) and handed to each trial through Ray's object store. The trial's
process, a fused group's and each data-parallel worker's take it as it is, and unpack it only
where a training loop is called (`train`, `train_fused`), whose own arguments stay those of a
loop: a test, a benchmark or a retraining calls a loop without a sweep."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.data import DataSplits
    from tunelab.models import Architecture
    from tunelab.training._common import Device, Report, Workers


@dataclass(frozen=True)
class TrialSetup:
    data: DataSplits
    architecture: Architecture
    max_epochs: int
    # The model's fixed options, resolved on the driver (weights fetched, the GAN's reference
    # classifier made), so that a model registered there in-process trains here too.
    options: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 1  # torch threads per process: one per CPU the trial (or worker) holds
    use_gpu: bool = False
    workers: int = 1  # data-parallel workers per trial, each of worker_cpu CPUs and worker_gpu GPUs
    worker_cpu: float = 1.0
    worker_gpu: float = 0.0
    # What each result carries for Ray Tune: the sweep's metrics (every result must have them)
    # and the hyperparameters population based training schedules.
    targets: tuple[str, ...] = ()
    scheduled: tuple[str, ...] = ()
    system_interval_s: float = 0.0  # 0: no system metrics
    timeout_s: float | None = None  # budget.trial_timeout_s: the longest wait for an epoch

    def device(self) -> Device:
        from tunelab.training._common import Device

        return Device.pick(self.use_gpu)

    def train(
        self,
        config: Mapping[str, Any],
        *,
        report: Report,
        restore: Mapping[str, Any] | None = None,
        device: Device | None = None,
        workers: Workers | None = None,
    ) -> None:
        """Train one trial's `config` with its trainer's loop (see _loops.train)."""
        from tunelab.training._loops import train

        train(
            config,
            self.data,
            self.architecture,
            max_epochs=self.max_epochs,
            report=report,
            restore=restore,
            device=device or self.device(),
            options=self.options,
            workers=workers,
        )

    def train_fused(
        self,
        configs: Sequence[Mapping[str, Any]],
        *,
        reports: Sequence[Report],
        restores: Sequence[Mapping[str, Any]] | None = None,
        stop: Callable[[int], bool] | None = None,
        failed: Callable[[int, BaseException], None] | None = None,
        epoch_end: Callable[[int], None] | None = None,
    ) -> None:
        """Train a fused group's member `configs` as one model (see _fused.train_fused)."""
        from tunelab.training._fused import train_fused

        train_fused(
            configs,
            self.data,
            self.architecture,
            max_epochs=self.max_epochs,
            reports=reports,
            device=self.device(),
            options=self.options,
            restores=restores,
            stop=stop,
            failed=failed,
            epoch_end=epoch_end,
        )
