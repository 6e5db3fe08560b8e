"""Fused trials on Ray (the spec's `fusion`), the driver's side: one Ray Tune trial per fused
group, whose process trains its K members as one stacked model (see _group), while every member stays a trial of
its own for everything else: its own Optuna trial, scheduler decisions, MLflow run, checkpoints
and model, as if Ray Tune ran it.

Ray Tune sees groups; tunelab fans each group out into its members on the driver:
- the searcher (`Groups.propose`) asks Optuna for a group's first member as usual, then fixes
  its shared hyperparameters (every one but those a member has of its own) with
  `enqueue_trial`, and asks for each next member, which samples the rest;
- a group's result of an epoch carries each member's metrics (or its error) and the folder of
  its checkpoint, written into the member's own folder as an unfused trial's would be;
- `MemberScheduler` runs the spec's scheduler (ASHA, median, FIFO) and the budget on each
  member, and tells the group which members go on (`GroupControl`, a Ray actor the group's
  process asks after each epoch); the group stops once none does;
- `GroupCallback` tells the sweep of each member's start, results, checkpoints and end.

A group whose process or node dies is retried by Ray as any trial is, from its last
checkpoint: the members it was still training go on, fused, from theirs. A member of a resumed
sweep (`tunelab resume`) goes on alone, as an unfused trial, from its own folder.

Every member pays one trial's overhead at most once per group, not per member: one process,
one Ray Tune trial, one report per epoch."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import ray
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from tunelab.backend._callback import ForwardingCallback, epoch_of, result_of
from tunelab.backend._errors import trial_error_line
from tunelab.backend._events import (
    EPOCH_KEY,
    ERROR_KEY,
    FUSION_KEY,
    MEMBERS_KEY,
    TrialResult,
)
from tunelab.backend._live import live
from tunelab.training import MEMBER_HYPERPARAMETERS, shared_part


@dataclass
class Member:
    """A member as the driver knows it."""

    id: str  # what the sweep knows it by (its Optuna trial's key, its run's trial id)
    name: str  # trial-012: its run's name and its checkpoints' folder
    config: dict[str, Any]
    group: Group
    last: dict[str, Any] | None = None  # its latest result: metrics, epoch
    checkpoint: str | None = None  # its latest checkpoint's folder
    error: str | None = None  # its own error (a non-finite loss): it failed
    stopped_at: int | None = None  # the epoch after which it stops
    ended: bool = False  # its end told to the sweep


@dataclass
class Group:
    name: str  # group-003: its members' runs are tagged with it
    trial_id: str  # its Ray Tune trial's
    members: list[Member] = field(default_factory=list)

    def going(self) -> list[Member]:
        """Its members still training (or not yet started)."""
        return [m for m in self.members if m.stopped_at is None and m.error is None]


@ray.remote(num_cpus=0)
class GroupControl:
    """After each epoch, which members of a group go on: the driver's scheduler decides, the
    group's process asks (and waits). One per sweep; a threaded actor."""

    def __init__(self) -> None:
        self.decided: dict[tuple[str, int], list[str]] = {}
        self.changed = threading.Condition()

    def decide(self, group: str, epoch: int, going_on: list[str]) -> None:
        with self.changed:
            self.decided[(group, epoch)] = going_on
            self.changed.notify_all()

    def going_on(self, group: str, epoch: int) -> list[str]:
        with self.changed:
            self.changed.wait_for(lambda: (group, epoch) in self.decided)
            return self.decided.pop((group, epoch))


class Groups:
    """A sweep's fused groups, on the driver: formed as the searcher proposes them, decided on
    member by member by the scheduler, told to the sweep member by member."""

    def __init__(self, sweep: str, *, size: int, trials: int, first_trial: int = 0) -> None:
        self.sweep, self.size, self.trials = sweep, size, trials
        self.first_trial = first_trial  # a resumed or extended sweep numbers its trials on
        self.by_trial: dict[str, Group] = {}
        self.members: dict[str, Member] = {}
        self.proposed = 0
        # A member Optuna proposed whose shared values differ from its group's (the space's
        # conditions): it comes first in the next group. (its id, config, Optuna params)
        self.carried: tuple[str, dict[str, Any], dict[str, Any]] | None = None
        self.control_name = f"tunelab-{sweep}-groups-{uuid.uuid4().hex[:8]}"
        self.control = GroupControl.options(  # type: ignore[attr-defined]
            name=self.control_name, max_concurrency=1000
        ).remote()

    @property
    def remaining(self) -> int:
        return self.trials - self.proposed

    def is_group(self, trial_id: str) -> bool:
        return trial_id in self.by_trial

    def propose(
        self,
        trial_id: str,
        ask: Callable[[str, dict[str, Any] | None], tuple[dict[str, Any], dict[str, Any]]],
        rename: Callable[[str, str], None],
    ) -> dict[str, Any]:
        """The config of a new group, Ray Tune trial `trial_id`. `ask(member id, wanted)` asks
        Optuna for a member's config and its Optuna params, with `wanted` params fixed;
        `rename(old, new)` moves a carried member's Optuna trial to its id in this group."""
        # Numbered on from a resumed or extended sweep's trials: never an earlier group's name.
        name = f"group-{self.first_trial + len(self.by_trial):03d}"
        group = Group(name, trial_id)
        size = max(1, min(self.size, self.remaining))
        shared: tuple[tuple[str, Any], ...] | None = None
        wanted: dict[str, Any] | None = None
        while len(group.members) < size:
            member_id = f"{trial_id}-{len(group.members)}"
            if self.carried is not None:
                carried_id, config, params = self.carried
                self.carried = None
                rename(carried_id, member_id)
            else:
                config, params = ask(member_id, wanted)
            if shared is not None and shared_part(config) != shared:
                self.carried = (member_id, config, params)
                break  # the group is complete as it is
            if shared is None:
                shared = shared_part(config)
                wanted = {k: v for k, v in params.items() if k not in MEMBER_HYPERPARAMETERS}
            member = Member(
                member_id,
                f"trial-{self.first_trial + self.proposed:03d}",
                config,
                group,
            )
            self.proposed += 1
            group.members.append(member)
            self.members[member_id] = member
        self.by_trial[trial_id] = group
        return {
            FUSION_KEY: {
                "group": name,
                "control": self.control_name,
                "members": [
                    {"id": m.id, "name": m.name, "config": m.config} for m in group.members
                ],
            }
        }

    def decide(self, group: Group, epoch: int, going_on: list[Member]) -> None:
        self.control.decide.remote(group.name, epoch, [m.id for m in going_on])

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            ray.kill(self.control)


@dataclass(frozen=True)
class MemberTrial:
    """A member, as the spec's scheduler sees a trial (by id; hashable for the median rule)."""

    trial_id: str
    status: str = Trial.RUNNING


def _as_trial(member: Member) -> Trial:
    return cast("Trial", MemberTrial(member.id))  # all the scheduler reads of a trial


def member_results(result: dict[str, Any]) -> list[tuple[str, dict | None, str | None, str | None]]:
    return [tuple(entry) for entry in result.get(MEMBERS_KEY) or []]  # type: ignore[misc]


class MemberScheduler(TrialScheduler):
    """The spec's scheduler, run on each member of each group: a member it stops stops alone
    (its group trains on without it), and so does one the budget stops or `breaks` (a member
    id and its result: True where it broke a constraint no later epoch can mend); a group
    stops when none of its members goes on."""

    def __init__(
        self,
        inner: TrialScheduler,
        sweep: str,
        breaks: Callable[[str, dict[str, Any]], bool] | None = None,
    ) -> None:
        self.inner, self.sweep, self.breaks = inner, sweep, breaks

    @property
    def groups(self) -> Groups:
        groups = live(self.sweep).groups
        assert groups is not None
        return groups

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, **spec)

    @property
    def metric(self) -> str | None:
        return self.inner.metric

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        group = self.groups.by_trial.get(trial.trial_id)
        if group is None:  # a resumed sweep's trial that goes on alone
            self.inner.on_trial_add(tune_controller, trial)
            return
        for member in group.members:
            self.inner.on_trial_add(tune_controller, _as_trial(member))

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        groups = self.groups
        group = groups.by_trial.get(trial.trial_id)
        if group is None:  # a resumed sweep's member, alone (its constraints: the stopper's)
            return self.inner.on_trial_result(tune_controller, trial, result)
        budget = live(self.sweep).budget
        epoch = epoch_of(result)
        epoch_s = float(result.get("time_this_iter_s") or 0.0)
        going_on = []
        for member_id, metrics, checkpoint, error in member_results(result):
            member = groups.members[member_id]
            if error is not None:
                member.error = error
                self.inner.on_trial_error(tune_controller, _as_trial(member))
                continue
            assert metrics is not None
            member.last = {**metrics, "training_iteration": epoch, EPOCH_KEY: epoch}
            member.checkpoint = checkpoint
            decision = self.inner.on_trial_result(tune_controller, _as_trial(member), member.last)
            over = budget.capped and budget.stop_after(member.id, epoch, epoch_s)
            broken = self.breaks is not None and self.breaks(member.id, member.last)
            if decision == TrialScheduler.STOP or over or broken:
                member.stopped_at = epoch
                self.inner.on_trial_complete(tune_controller, _as_trial(member), member.last)
            else:
                going_on.append(member)
        groups.decide(group, epoch, going_on)
        return TrialScheduler.CONTINUE if going_on else TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        group = self.groups.by_trial.get(trial.trial_id)
        if group is None:
            self.inner.on_trial_complete(tune_controller, trial, result)
            return
        for member in group.going():
            member.stopped_at = member.last[EPOCH_KEY] if member.last else 0
            self.inner.on_trial_complete(tune_controller, _as_trial(member), member.last or {})

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        group = self.groups.by_trial.get(trial.trial_id)
        if group is None:
            self.inner.on_trial_error(tune_controller, trial)
            return
        for member in group.going():
            self.inner.on_trial_error(tune_controller, _as_trial(member))

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        if trial.trial_id not in self.groups.by_trial:
            self.inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        return self.inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        return self.inner.debug_string()


class GroupCallback(ForwardingCallback):
    """A fused sweep's Ray Tune events, told to the sweep member by member; a trial that is
    not a group (a resumed sweep's member, alone) is forwarded as ForwardingCallback does."""

    def _group(self, trial: Trial) -> Group | None:
        groups = live(self.sweep).groups
        return groups.by_trial.get(trial.trial_id) if groups is not None else None

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        waiting = sum(
            len((trial.config.get(FUSION_KEY) or {}).get("members") or [None])
            for trial in trials
            if trial.status == Trial.PENDING
        )
        self.tell_waiting(waiting)

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        group = self._group(trial)
        if group is None:  # a resumed sweep's member, alone
            super().on_trial_start(iteration, trials, trial, **info)
            return
        for member in group.going():
            config = {**member.config, FUSION_KEY: {"group": group.name}}
            self.events.trial_started(member.id, member.name, config)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        group = self._group(trial)
        if group is None:
            super().on_trial_result(iteration, trials, trial, result, **info)
            return
        shared = result_of(result)
        if shared.error is not None:  # the group's own code raised: its members fail with it
            for member in group.going():
                member.error = shared.error
        for member_id, metrics, _, error in member_results(result):
            values = {**(metrics or {}), EPOCH_KEY: shared.epoch}
            if error is not None:
                values[ERROR_KEY] = error
            self.events.trial_result(
                member_id,
                TrialResult(
                    epoch=shared.epoch,
                    values=values,
                    node_id=shared.node_id,
                    node_ip=shared.node_ip,
                    timestamp_ms=shared.timestamp_ms,
                    system_samples=shared.system_samples,
                    error=error,
                ),
            )
        self._end(group, failed_only=True)

    def on_checkpoint(
        self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any
    ) -> None:
        group = self._group(trial)
        if group is None:
            super().on_checkpoint(iteration, trials, trial, checkpoint, **info)
            return
        epoch = epoch_of(trial.last_result)
        for member_id, _, folder, _ in member_results(trial.last_result):
            if folder is not None:
                self.events.trial_checkpointed(member_id, folder)
        self._end(group, at=epoch)

    def _end(self, group: Group, *, at: int | None = None, failed_only: bool = False) -> None:
        """Tell the sweep of the members that ended: failed ones at once, the ones stopped at
        epoch `at` once their checkpoint of it is told."""
        for member in group.members:
            if member.ended:
                continue
            if member.error is not None:
                member.ended = True
                self.events.trial_failed(member.id, member.error)
            elif (
                not failed_only and member.stopped_at is not None and member.stopped_at <= (at or 0)
            ):
                member.ended = True
                self.events.trial_completed(member.id, member.checkpoint)

    def on_trial_recover(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        group = self._group(trial)
        attempt = trial.run_metadata.num_failures
        if group is None:
            super().on_trial_recover(iteration, trials, trial, **info)
            return
        reason = trial_error_line(trial)
        for member in group.members:
            if not member.ended:
                self.events.trial_retried(member.id, attempt, reason)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        group = self._group(trial)
        if group is None:
            super().on_trial_complete(iteration, trials, trial, **info)
            return
        for member in group.members:
            if not member.ended:
                member.ended = True
                self.events.trial_completed(member.id, member.checkpoint)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        group = self._group(trial)
        if group is None:
            super().on_trial_error(iteration, trials, trial, **info)
            return
        error = trial_error_line(trial)
        for member in group.members:
            if not member.ended:
                member.ended = True
                self.events.trial_failed(member.id, error)
