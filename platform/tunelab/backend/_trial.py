"""The function Ray Tune runs for each trial. Kept apart from the Tuner's wiring so that a worker
process imports only Ray's trainable, torch and the training loop: not Optuna, pydantic or rich.

Two kinds of failure are told apart here. A worker or node that dies is Ray's to see, and Ray
restarts the trial from its last checkpoint (`failure.max_retries`). An error raised by the
trial's own code (a builder bug, a NaN loss) would fail the same way again: the trial reports it
as its last result (ERROR_KEY, with `done`) and ends, and the sweep records it failed, once. So
does a trial that reports no epoch within `budget.trial_timeout_s` (see EpochWatch)."""

from __future__ import annotations

import math
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from tunelab.backend._events import (
    EPOCH_FILE,
    EPOCH_KEY,
    ERROR_KEY,
    EXPLOIT_KEY,
    NODE_KEY,
    RESUME_KEY,
    SCHEDULE_PREFIX,
)
from tunelab.errors import TunelabError, error_line
from tunelab.training import TrialSetup


def run_trial(config: dict[str, Any], *, setup: TrialSetup) -> None:
    """A Ray Tune function trainable: train, and report metrics and a checkpoint every epoch
    (see TrialSetup for what every trial of the sweep shares, `targets` the metrics every result
    Ray Tune sees must carry).

    A fused group's trial (see _fusion) trains its members as one model. A trial of several
    `workers` trains on them (see _parallel)."""
    from tunelab.backend._group import member_config
    from tunelab.backend._system import SystemSampler

    node_id = ray.get_runtime_context().get_node_id()
    config, fusion = member_config(config)
    if fusion is not None:
        run_group(fusion, setup, node_id)
        return
    restore = restored(config)
    sampler = SystemSampler(setup.system_interval_s, gpu=setup.use_gpu)
    with sampler:
        Reporter(config, setup, node_id, sampler, restore).run()


class Reporter:
    """A trial's reports to Ray Tune: each epoch's metrics (with the scheduled hyperparameters,
    the node and the system's samples) and checkpoint; and, when the trial's own code raises,
    that error as its last result."""

    def __init__(
        self,
        config: dict[str, Any],
        setup: TrialSetup,
        node_id: str,
        sampler: Any,
        restore: dict[str, Any] | None,
    ) -> None:
        self.config, self.setup, self.node_id, self.sampler = config, setup, node_id, sampler
        self.restore = restore
        self.last: dict[str, Any] = {EPOCH_KEY: int(restore["epoch"]) if restore else 0}
        self.schedule = {
            SCHEDULE_PREFIX + name: float(config[name])
            for name in setup.scheduled
            if isinstance(config.get(name), int | float) and not isinstance(config[name], bool)
        }
        self.reporting = False  # an exception from Ray's own reporting is Ray's, not the trial's

    def report(self, epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
        from tunelab.backend._system import SYSTEM_KEY
        from tunelab.training import save_checkpoint

        with tempfile.TemporaryDirectory(prefix="tunelab-ckpt-") as directory:
            save_checkpoint(directory, state)
            (Path(directory) / EPOCH_FILE).write_text(str(epoch))
            self.reporting = True
            tune.report(
                {
                    **metrics,
                    **self.schedule,
                    EPOCH_KEY: epoch,
                    NODE_KEY: self.node_id,
                    SYSTEM_KEY: self.sampler.drain(),
                },
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
            self.reporting = False
        self.last.update(metrics, **{EPOCH_KEY: epoch})

    def run(self) -> None:
        from tunelab.backend._parallel import WorkersLost, train_parallel

        setup, restore = self.setup, self.restore

        def training(report_epoch: Callable[..., None]) -> None:
            if setup.workers > 1:
                train_parallel(self.config, setup, restore=restore, report=report_epoch)
                return
            import torch

            # One torch thread per CPU the trial was given: concurrent trials do not oversubscribe.
            torch.set_num_threads(setup.threads)
            setup.train(self.config, report=report_epoch, restore=restore)

        try:
            EpochWatch(setup.timeout_s).run(training, self.report)
        except WorkersLost:
            raise  # Ray's to retry, as a worker that died
        except Exception as exc:
            if self.reporting:
                raise
            # The trial's own error: its last result, carrying the sweep's metrics as it last
            # reported them (a scheduler reads them), ends it without a retry.
            tune.report(
                {
                    **{name: self.last.get(name, math.nan) for name in setup.targets},
                    EPOCH_KEY: self.last[EPOCH_KEY],
                    NODE_KEY: self.node_id,
                    ERROR_KEY: error_line(exc),
                    "done": True,
                }
            )


def restored(config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint state a trial goes on from, None for a fresh start: Ray's own (a retried
    trial's, or PBT's), a resumed sweep's last recorded, or the one PBT had it exploit. Takes
    the resumption and exploitation keys out of `config`."""
    from tunelab.training import load_checkpoint

    resumed = config.pop(RESUME_KEY, None)
    exploited = config.pop(EXPLOIT_KEY, None)
    restore = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            restore = load_checkpoint(directory)
    elif resumed is not None and resumed["epoch"]:
        restore = checkpoint_at(Path(resumed["folder"]), int(resumed["epoch"]))
    if exploited is not None and (restore is None or restore["config"] != config):
        # Population based training gave it another trial's checkpoint (copied into its own
        # folder) and this config; Ray handed it a checkpoint of before (its own, saved just
        # as it was exploited). One trained with this config is one of after: kept above.
        restore = exploited_checkpoint(str(exploited))
    return restore


def run_group(fusion: dict[str, Any], setup: TrialSetup, node_id: str) -> None:
    """A fused group's trial (see _group.train_group), with run_trial's handling of its own
    errors: one raised by the group's training (not by Ray's reporting) is its last result,
    and ends the trial without a retry; every member it was training fails with it."""
    from tunelab.backend._group import train_group
    from tunelab.backend._system import SystemSampler

    sampler = SystemSampler(setup.system_interval_s, gpu=setup.use_gpu)
    state = {"reporting": False, "epoch": 0}

    def report(values: dict[str, Any], checkpoint: str | None) -> None:
        state["reporting"] = True
        tune.report(
            values, checkpoint=tune.Checkpoint.from_directory(checkpoint) if checkpoint else None
        )
        state["reporting"], state["epoch"] = False, values[EPOCH_KEY]

    with sampler:
        try:
            train_group(fusion, setup, node_id=node_id, system=sampler.drain, report=report)
        except Exception as exc:
            if state["reporting"]:
                raise
            tune.report(
                {
                    **{name: math.nan for name in setup.targets},
                    EPOCH_KEY: state["epoch"],
                    NODE_KEY: node_id,
                    ERROR_KEY: error_line(exc),
                    "done": True,
                }
            )


def exploited_checkpoint(name: str) -> dict[str, Any]:
    """The checkpoint copied into the trial's own folder when it exploited another trial."""
    from tunelab.training import load_checkpoint

    storage = tune.get_context().get_storage()
    copied = tune.Checkpoint(
        path=f"{storage.trial_fs_path}/{name}", filesystem=storage.storage_filesystem
    )
    with copied.as_directory() as directory:
        return load_checkpoint(directory)


class EpochTimeout(TunelabError):
    """No epoch reported within budget.trial_timeout_s."""


class EpochWatch:
    """With a timeout, training runs in a thread of its own and hands each epoch's report to
    the trial's thread, which makes it. When no report comes in time, the trial's thread
    raises EpochTimeout (the trial fails, once, with `timeout`) and the training thread is
    abandoned: it ends at its next report if it ever makes one, or with the worker's process,
    which trials that can time out do not share (backend/_run.py)."""

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self.abandoned = threading.Event()

    def run(
        self, training: Callable[[Callable[..., None]], None], report: Callable[..., None]
    ) -> None:
        if self.timeout_s is None:
            training(report)
            return
        handed: queue.Queue[tuple[str, Any]] = queue.Queue()

        def relay(*args: Any) -> None:
            if self.abandoned.is_set():
                raise EpochTimeout("abandoned")  # ends the training thread
            done = threading.Event()
            failure: list[BaseException] = []
            handed.put(("report", (args, done, failure)))
            done.wait()
            if failure:
                raise failure[0]

        def target() -> None:
            try:
                training(relay)
                handed.put(("finished", None))
            except BaseException as exc:  # handed to the trial's thread
                handed.put(("raised", exc))

        threading.Thread(target=target, name="tunelab-training", daemon=True).start()
        while True:
            try:
                kind, item = handed.get(timeout=self.timeout_s)
            except queue.Empty:
                self.abandoned.set()
                raise EpochTimeout(
                    f"timeout: no epoch reported in {self.timeout_s:g} s (budget.trial_timeout_s)"
                ) from None
            if kind == "finished":
                return
            if kind == "raised":
                raise item
            args, done, failure = item
            try:
                report(*args)
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                done.set()


def checkpoint_at(folder: Path, epoch: int) -> dict[str, Any] | None:
    """The latest checkpoint of a trial, from its folder and those of each time it went on
    (NAME.1, NAME.2, ...), of an epoch no later than `epoch`: the last its run recorded (a
    later one's metrics were never recorded). None when there is none."""
    from tunelab.training import load_checkpoint

    directory = checkpoint_dir_at(folder, epoch)
    return load_checkpoint(directory) if directory is not None else None


@dataclass(frozen=True)
class Reported:
    """A result a trial reported, as Ray logged it in the trial's folder (`result.json`, one
    line per result, written as the driver got it): what outlives a driver that died before it
    recorded the result elsewhere."""

    epoch: int
    values: dict[str, Any]
    timestamp_ms: int | None
    checkpoint: Path | None  # its checkpoint's directory, while it is kept


def reported(folder: Path) -> list[Reported]:
    """Every result of a trial, by epoch (the last one reported of each epoch), from its folder
    and those of each time it went on (NAME.1, NAME.2, ...). A line cut short is skipped."""
    import json

    from tunelab.training import CHECKPOINT_FILE

    by_epoch: dict[int, Reported] = {}
    for directory in [folder, *sorted(folder.parent.glob(f"{folder.name}.*"))]:
        results = directory / "result.json"
        if not results.exists():
            continue
        for line in results.read_text().splitlines():
            try:
                result = json.loads(line)
            except ValueError:
                continue
            if not isinstance(result, dict) or EPOCH_KEY not in result:
                continue
            name = result.get("checkpoint_dir_name")
            kept = directory / str(name) if name else None
            epoch = int(result[EPOCH_KEY])
            by_epoch[epoch] = Reported(
                epoch=epoch,
                values=result,
                timestamp_ms=int(result["timestamp"]) * 1000 if result.get("timestamp") else None,
                checkpoint=kept if kept is not None and (kept / CHECKPOINT_FILE).exists() else None,
            )
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def checkpoint_dir_at(folder: Path, epoch: int) -> Path | None:
    """The directory of a trial's latest kept checkpoint of an epoch no later than `epoch`
    (see `reported`, and EPOCH_FILE for those no result names); None when none is kept. No
    checkpoint is opened."""
    from tunelab.training import CHECKPOINT_FILE

    found = {r.epoch: r.checkpoint for r in reported(folder) if r.checkpoint}
    for directory in [folder, *sorted(folder.parent.glob(f"{folder.name}.*"))]:
        for kept in sorted(directory.glob("checkpoint_*")):
            if not (kept / CHECKPOINT_FILE).exists():
                continue  # cut short
            try:
                found[int((kept / EPOCH_FILE).read_text())] = kept  # a later folder's wins
            except (OSError, ValueError):
                continue  # from before this file
    eligible = [e for e in found if e <= epoch]
    return found[max(eligible)] if eligible else None
