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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

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
from tunelab.backend._groups import Group, Groups, Member
from tunelab.backend._live import live


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
