"""What the backend tells the sweep, and asks of it, as plain data and protocols: no Ray here,
so the sweep side implements them without importing Ray."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Fields every tunelab trial adds to its per-epoch result.
EPOCH_KEY = "epoch"
NODE_KEY = "node_id"
WORKERS_KEY = "tunelab_workers"  # a data-parallel trial's workers: each one's node IP
WORKERS_GROUP_KEY = "tunelab_workers_group"  # ... and the placement group that holds them (hex)
ERROR_KEY = "tunelab_error"  # the trial's own error, one line: its last result
# In a population based sweep's config, once the trial exploited another: the folder, in its
# own, of the checkpoint it goes on from (see _population).
EXPLOIT_KEY = "tunelab_exploit"  # "checkpoint_exploit_002"
# A population based sweep's trial reports the hyperparameters it trained the epoch with:
# hp/lr, hp/dropout, ... (they change as it exploits other trials).
SCHEDULE_PREFIX = "hp/"
# In a resumed sweep's config: the trial goes on from its own folder's checkpoint at this epoch.
RESUME_KEY = "tunelab_resume"  # {"name": "trial-002", "folder": ..., "epoch": 7, ...}
# In a fused sweep's config: the trial is fused group `group`, which trains `members` (each
# {"id", "name", "config"}) and asks the Ray actor named `control` which of them go on.
FUSION_KEY = "tunelab_fusion"  # {"group": "group-003", "control": ACTOR, "members": [...]}
# In a fused group's result: [[member id, metrics or None, checkpoint folder or None, error or
# None]], one per member that trained the epoch. (A list: Ray Tune flattens nested dicts.)
MEMBERS_KEY = "tunelab_members"
# In each checkpoint's folder: the epoch it holds, read without torch. A checkpoint reaches the
# trial's folder before the driver logs the result that names it; when the driver dies in
# between, only this says which epoch it is.
EPOCH_FILE = "epoch"


def resumed_name(trial: Any) -> str | None:
    """The name a resumed trial had in the sweep it goes on from; None for a new trial (or a
    fused member, which a scheduler sees without a config)."""
    return ((getattr(trial, "config", None) or {}).get(RESUME_KEY) or {}).get("name")


@dataclass(frozen=True)
class TrialResult:
    """One epoch's report of a trial."""

    epoch: int
    values: Mapping[str, Any]  # everything the trial reported: its metrics, by name
    node_id: str  # the Ray node the trial ran on
    node_ip: str
    timestamp_ms: int | None  # when it was reported, if known
    system_samples: list[dict[str, float]] = field(default_factory=list)  # {"t": ms, NAME: v}
    error: str | None = None  # the trial's own error: this result ends it, failed
    worker_nodes: tuple[str, ...] = ()  # a data-parallel trial's workers: the IP of each one's node


class TrialEvents(Protocol):
    """What happens to each trial, in order: started, results (each followed by the checkpoint
    it carried), then completed or failed. A
    trial whose worker or node died is retried (then started again, from its last checkpoint).
    An end may come for a trial removed before it started, and a trial that never ends was
    killed (the sweep was interrupted). A result carrying `error` ends the trial: its own code
    raised, and it is not retried."""

    def trial_started(self, trial_id: str, name: str, config: dict[str, Any]) -> None: ...

    def trial_result(self, trial_id: str, result: TrialResult) -> None: ...

    def trial_checkpointed(self, trial_id: str, checkpoint: str) -> None: ...

    def checkpoints_dropped(self, trial_id: str, delete: Callable[[], None]) -> None:
        """Checkpoints the trial no longer keeps (`checkpoints.keep`) since its newest one came:
        `delete` deletes them. Call it once the trial's results up to that newest one are
        recorded, so that a resumed sweep still finds the checkpoint of the last epoch its run
        recorded."""

    def trial_exploited(
        self,
        trial_id: str,
        source_id: str,
        *,
        epoch: int,
        source_epoch: int,
        config: dict[str, Any],
        values: Mapping[str, Any],
        source_checkpoint: str,
    ) -> None:
        """Population based training: after its `epoch`, the trial goes on from trial
        `source_id`'s checkpoint of `source_epoch` (its folder `source_checkpoint`, in the
        source's), with `config` (the source's, explored). `values`: the source's result of
        that epoch, now the trial's model's."""

    def trial_retried(self, trial_id: str, attempt: int, reason: str) -> None: ...

    def trial_completed(self, trial_id: str, checkpoint: str | None) -> None: ...

    def trial_failed(self, trial_id: str, error: str) -> None: ...

    def trials_waiting(self, count: int, pending_nodes: Mapping[str, int]) -> None:
        """How many trials Ray has created but not started (waiting for resources), each time
        that number changes, and while some wait, the nodes the autoscaler is bringing (by
        node type) every few seconds."""


@dataclass(frozen=True)
class Continued:
    """A resumed sweep's trial that goes on: its Optuna trial, its config and its name, from
    the checkpoint in its folder of the last epoch its run recorded (0: from the start)."""

    number: int  # the Optuna trial's number
    config: dict[str, Any]
    name: str
    folder: str  # where its checkpoints are (and those of each time it went on before)
    epoch: int
    going_on: int = 1  # 1 the first time it goes on: its new checkpoints' folder is NAME.1


@dataclass(frozen=True)
class EarlierResults:
    """A resumed sweep's trial as ASHA had seen it before the driver stopped: its name, its
    Optuna trial's number, its metrics at each epoch, and whether it goes on now."""

    name: str
    number: int
    epochs: dict[int, dict[str, float]]
    going_on: bool = False


@dataclass(frozen=True)
class RunEnd:
    """How the trials' run ended, when it did not simply finish."""

    gave_up: bool = False  # a second Ctrl-C or SIGTERM: Ray did not finish its graceful stop
    terminated: bool = False  # SIGTERM asked it to stop


class Budget(Protocol):
    """The sweep's caps: asked after every result, and before every new trial."""

    @property
    def capped(self) -> bool: ...

    overran: bool  # the wall-time cap stopped running trials where they were

    def stop_after(self, trial_id: str, epoch: int, epoch_s: float = 0.0) -> bool: ...

    def exhausted(self) -> bool: ...

    def overrun(self) -> bool: ...

    def stuck(self) -> bool: ...
