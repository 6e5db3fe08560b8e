"""The driver-side callback: Ray Tune's trial events, forwarded as plain data to the sweep. It
decides nothing and writes nothing itself."""

from __future__ import annotations

import time
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from tunelab.backend._cluster import pending_nodes
from tunelab.backend._errors import trial_error_line
from tunelab.backend._events import (
    EPOCH_KEY,
    ERROR_KEY,
    NODE_KEY,
    WORKERS_KEY,
    TrialEvents,
    TrialResult,
)
from tunelab.backend._live import live
from tunelab.backend._system import SYSTEM_KEY

ASK_EVERY_S = 3.0  # how often the autoscaler is asked what it brings, while trials wait


class ForwardingCallback(tune.Callback):
    def __init__(self, sweep: str) -> None:
        self.sweep = sweep  # pickled with the experiment: only the name (see _live)
        self.waiting = 0

    @property
    def events(self) -> TrialEvents:
        return live(self.sweep).events

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        self.tell_waiting(sum(trial.status == Trial.PENDING for trial in trials))

    def tell_waiting(self, waiting: int) -> None:
        """Tell the sweep how many trials wait to start when that changes, and while some
        wait, every few seconds, which nodes the autoscaler is bringing for them."""
        changed = waiting != getattr(self, "waiting", 0)  # (a callback pickled before it counted)
        now = time.monotonic()
        if not changed and (waiting == 0 or now - getattr(self, "asked", 0.0) < ASK_EVERY_S):
            return
        self.waiting, self.asked = waiting, now
        self.events.trials_waiting(waiting, pending_nodes() if waiting else {})

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.events.trial_started(trial.trial_id, str(trial), dict(trial.config))

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        self.events.trial_result(trial.trial_id, result_of(result))

    def on_checkpoint(
        self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any
    ) -> None:
        self.events.trial_checkpointed(trial.trial_id, checkpoint.path)

    def on_trial_recover(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        attempt = trial.run_metadata.num_failures
        self.events.trial_retried(trial.trial_id, attempt, trial_error_line(trial))

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        checkpoint = trial.checkpoint.path if trial.checkpoint is not None else None
        self.events.trial_completed(trial.trial_id, checkpoint)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.events.trial_failed(trial.trial_id, trial_error_line(trial))


def epoch_of(result: dict[str, Any]) -> int:
    """The epoch a result reports (Ray's iteration count if the trial did not say)."""
    return int(result.get(EPOCH_KEY, result.get("training_iteration", 0)))


def result_of(result: dict[str, Any]) -> TrialResult:
    return TrialResult(
        epoch=epoch_of(result),
        values=result,
        node_id=str(result.get(NODE_KEY, "")),
        node_ip=str(result.get("node_ip", "")),
        timestamp_ms=int(result.get("timestamp", 0)) * 1000 or None,
        system_samples=list(result.get(SYSTEM_KEY) or []),
        error=result.get(ERROR_KEY),
        worker_nodes=tuple(result.get(WORKERS_KEY) or ()),
    )
