"""Which checkpoints a trial keeps (the spec's `checkpoints.keep`): its best N by the sweep's
metric, and always its latest, which a retry and `tunelab resume` go on from. The others are
deleted once a newer one makes them redundant and its epoch is recorded (the sweep deletes
them, see TrialEvents.checkpoints_dropped), so disk does not grow with `max_epochs`.

Ray Tune's own `CheckpointConfig(num_to_keep)` keeps the same ones, but to stay consistent
with its experiment snapshot it also writes and syncs that snapshot (every trial's state, the
searcher pickled) after each trial checkpoint, with the controller waiting: on short epochs
that was most of what a trial cost the driver beyond training (about 60 ms a trial at 64 trials
of 6 epochs, and growing with the number of trials). tunelab resumes from its own records and
each trial's folder, never from Ray's snapshot, so it keeps its checkpoints itself."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from tunelab.backend._callback import epoch_of
from tunelab.backend._live import live

logger = logging.getLogger(__name__)


@dataclass
class _Kept:
    score: float  # higher is better (negated for mode min); -inf when missing or not finite
    checkpoint: Any  # ray.tune.Checkpoint: its path, on its filesystem
    epoch: int = 0


def _score(value: Any, mode: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return -math.inf
    if not math.isfinite(number):
        return -math.inf
    return number if mode == "max" else -number


@dataclass
class Retention:
    """The checkpoints each trial keeps, in the order they came. With `pin_every` (a population
    based sweep's interval), also every one of an epoch that is a multiple of it: population
    based training hands a trial that exploits this one the checkpoint of the last such epoch
    at which this one was in the top quantile, which may be several intervals back."""

    keep: int
    mode: str
    pin_every: int | None = None
    kept: dict[str, list[_Kept]] = field(default_factory=dict)

    def add(self, trial_id: str, checkpoint: Any, value: Any, epoch: int = 0) -> list[Any]:
        """A trial's new checkpoint, its metric's value and its epoch: the checkpoints it no
        longer keeps."""
        kept = self.kept.setdefault(trial_id, [])
        kept.append(_Kept(_score(value, self.mode), checkpoint, epoch))
        # Ties go to the newer checkpoint, as its weights are the ones training went on with.
        order = sorted(range(len(kept)), key=lambda i: (kept[i].score, i), reverse=True)
        keep = set(order[: self.keep]) | {len(kept) - 1}
        if self.pin_every:
            pinned = [i for i, k in enumerate(kept) if k.epoch and k.epoch % self.pin_every == 0]
            keep |= set(pinned)
        dropped = [k.checkpoint for i, k in enumerate(kept) if i not in keep]
        self.kept[trial_id] = [k for i, k in enumerate(kept) if i in keep]
        return dropped


class RetentionCallback(tune.Callback):
    """Hands the sweep the checkpoints a trial no longer keeps, to delete on the filesystem Ray
    stored them on (a local folder, NFS, S3). Pickled with the experiment: its state is plain
    data (see _live)."""

    def __init__(
        self, sweep: str, keep: int, metric: str, mode: str, pin_every: int | None = None
    ) -> None:
        self.sweep, self.metric = sweep, metric
        self.retention = Retention(keep, mode, pin_every)

    def on_checkpoint(
        self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any
    ) -> None:
        # Ray updated the trial's last result with the report that carried this checkpoint.
        result = trial.last_result or {}
        dropped = self.retention.add(
            trial.trial_id, checkpoint, result.get(self.metric), epoch_of(result)
        )
        if dropped:
            live(self.sweep).events.checkpoints_dropped(trial.trial_id, partial(delete, dropped))


def delete(checkpoints: Sequence[Any]) -> None:
    for checkpoint in checkpoints:
        try:
            checkpoint.filesystem.delete_dir(checkpoint.path)
        except Exception as exc:  # gone already, or storage refusing: disk, not results
            logger.debug("could not delete checkpoint %s: %s", checkpoint.path, exc)
