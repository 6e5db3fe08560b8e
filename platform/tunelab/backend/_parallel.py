"""Data-parallel trials (the spec's `resources.workers`). The trial's function builds a Ray Train
`TorchTrainer` whose workers train the trial together with DistributedDataParallel (gloo on
CPUs, NCCL on GPUs; Ray Train joins them and places them, on one node or several). The first
worker hands each epoch's metrics and checkpoint to the trial's own process, which reports them
to Ray Tune as any trial does, and waits until it has: the sweep sees one trial, with one run
and one checkpoint per epoch, and a scheduler that stops the trial stops it between epochs.

A worker or node lost ends the training with `WorkersLost`, which Ray Tune retries from the
trial's last checkpoint (`failure.max_retries`), as it would a single worker's trial; an error
of the trial's own (a NaN loss) ends it as the trial's error, once."""

from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial

from tunelab.backend._events import WORKERS_GROUP_KEY, WORKERS_KEY
from tunelab.errors import TunelabError
from tunelab.training import TrialSetup

POLL_S = 0.5  # how often the trial's process looks whether the training ended without a result


class WorkersLost(TunelabError):
    """A worker of a data-parallel trial died (its process, or its node)."""


def train_parallel(
    config: dict[str, Any],
    setup: TrialSetup,
    *,
    restore: dict[str, Any] | None,
    report: Callable[[int, dict[str, Any], Any], None],
) -> None:
    """Train the trial on `setup.workers` Ray Train workers of `setup.worker_cpu` CPUs and
    `setup.worker_gpu` GPUs each, calling `report` (in this process) with each epoch's metrics
    and checkpoint bytes; the metrics carry the IP of each worker's node (WORKERS_KEY)."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    # Outside the trial's own placement group, which holds only a sliver of CPU for this process.
    cpu, gpu = setup.worker_cpu, setup.worker_gpu
    place = {"num_cpus": 0, "scheduling_strategy": "DEFAULT"}
    results: Any = Queue(actor_options=place)  # the first worker's epochs, to this process
    taken: Any = Queue(actor_options=place)  # this process's word that it reported one
    with tempfile.TemporaryDirectory(prefix="tunelab-workers-") as storage:
        trainer = TorchTrainer(
            _worker,
            train_loop_config={
                "config": config,
                # each worker's torch threads: one per CPU it holds
                "setup": replace(setup, threads=max(1, int(cpu)), use_gpu=gpu > 0),
                "restore": restore,
                "results": results,
                "taken": taken,
            },
            scaling_config=ScalingConfig(
                num_workers=setup.workers,
                use_gpu=gpu > 0,
                resources_per_worker={"CPU": cpu, **({"GPU": gpu} if gpu > 0 else {})},
            ),
            torch_config=TorchConfig(backend="nccl" if gpu > 0 else "gloo"),
            # Ray Train keeps nothing of its own: checkpoints are the trial's, reported by it.
            run_config=RunConfig(
                storage_path=storage, failure_config=FailureConfig(max_failures=0)
            ),
        )
        ended: list[BaseException | None] = []

        def fit() -> None:
            try:
                trainer.fit()
                ended.append(None)
            except BaseException as exc:  # handed to the trial's thread
                ended.append(exc)

        thread = threading.Thread(target=fit, name="tunelab-workers", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    epoch, metrics, state, where = results.get(timeout=POLL_S)
                except queue.Empty:
                    if thread.is_alive():
                        continue
                    try:  # the last epoch may have come just before the training ended
                        epoch, metrics, state, where = results.get_nowait()
                    except queue.Empty:
                        break
                report(epoch, {**metrics, **where}, state)
                taken.put(epoch)
        finally:
            # Also when reporting raised (Ray Tune stopped the trial): without the queues the
            # first worker fails at its next epoch, and Ray Train ends the workers with it.
            results.shutdown()
            taken.shutdown()
        thread.join()
    if ended and ended[0] is not None:
        raise _cause(ended[0])


def _cause(error: BaseException) -> BaseException:
    """What ended the training: WorkersLost where a worker's process or node died (worded as
    any lost worker is: `worker_crashed: ...`, `node_lost: ...`), else the trial's own error,
    as the first worker that raised it raised it."""
    from ray.train import WorkerGroupError

    # How Ray Train 2.60 hands on what befell each worker (its internals: no public names).
    from ray.train.v2._internal.exceptions import (
        UserExceptionWithTraceback,
        WorkerHealthCheckFailedError,
        WorkerHealthCheckTimeoutError,
    )

    from tunelab.backend._errors import WORKER_CRASHED, lost_worker

    if not isinstance(error, WorkerGroupError):
        return error
    failures = dict(sorted(error.worker_failures.items()))
    for rank, failure in failures.items():
        if isinstance(failure, WorkerHealthCheckTimeoutError):
            return WorkersLost(f"{WORKER_CRASHED}: worker {rank} of the trial stopped answering")
        if isinstance(failure, WorkerHealthCheckFailedError):
            lost = lost_worker(failure.health_check_failure)
            return WorkersLost(lost or f"{WORKER_CRASHED}: worker {rank} of the trial died")
        lost = lost_worker(failure)
        if lost is not None:
            return WorkersLost(lost)
    first = next(iter(failures.values()), error)
    if isinstance(first, UserExceptionWithTraceback):
        return first._base_exc
    if isinstance(first, ray.exceptions.RayTaskError):
        cause = first.as_instanceof_cause()
        return cause if isinstance(cause, BaseException) else first
    return first


def _worker(given: dict[str, Any]) -> None:
    """One worker of the trial (in Ray Train's worker process)."""
    import torch
    import torch.distributed as dist

    from tunelab.training import Workers, checkpoint_bytes

    setup: TrialSetup = given["setup"]
    torch.set_num_threads(setup.threads)
    device = setup.device()
    if device.name == "cuda":
        from ray.train.torch import get_device

        torch.cuda.set_device(get_device())
    workers = Workers.joined()
    nodes: list[Any] = [None] * (workers.size if workers else 1)
    if workers is not None:  # every worker's node, by rank, for the trial's run
        dist.all_gather_object(nodes, ray.util.get_node_ip_address())
    group = ray.util.get_current_placement_group()
    where = {WORKERS_KEY: nodes, WORKERS_GROUP_KEY: group.id.hex() if group else None}
    results, taken = given["results"], given["taken"]

    def report(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
        results.put((epoch, metrics, checkpoint_bytes(state), where))
        taken.get()  # Ray Tune has the epoch: the scheduler decided before the next one

    setup.train(
        given["config"], report=report, restore=given["restore"], device=device, workers=workers
    )


class WorkersCallback(tune.Callback):
    """On the driver: when a data-parallel trial ends (completed, stopped by the scheduler or
    the budget, failed), the placement group of its workers is removed, and its workers with
    it. Ray Train removes it itself when its training ends; but a trial that Ray Tune stops
    ends its process, and Ray Train's controller with it, mid-training, and the group it held
    would then be removed only by Ray Train's cleaner, which needs Ray's dashboard (its state
    API) to see that the controller is gone."""

    def __init__(self) -> None:
        self.groups: dict[str, str] = {}  # trial id -> its workers' placement group (hex)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        group = result.get(WORKERS_GROUP_KEY)
        if group:
            self.groups[trial.trial_id] = str(group)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._release(trial)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._release(trial)

    def _release(self, trial: Trial) -> None:
        from ray.util.placement_group import PlacementGroup, remove_placement_group

        group = self.groups.pop(trial.trial_id, None)
        if group is None:
            return
        with contextlib.suppress(Exception):  # already removed: its training ended
            remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(group))))
