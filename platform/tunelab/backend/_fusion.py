"""Fused trials on Ray (the spec's `fusion`). Every member of a fused group is an ordinary Ray
Tune trial: its own Optuna trial, scheduler decisions, callbacks, MLflow run and checkpoints.
What trains them is the group's trainer, a Ray actor that holds the group's resources and runs
`train_fused`; each member's trial holds a sliver of CPU, hands its config to the trainer, and
reports the results the trainer hands back, epoch by epoch.

The members train in step. The trainer trains an epoch once every member it trains has asked
for it, which a member does only after Ray Tune took its last result and let it go on; a member
the scheduler or the budget stops, or that fails, is told to the trainer by the driver
(`FusionCallback`), and the others go on without it. A member restarted after its worker died,
or going on in a resumed sweep, trains alone from its checkpoint, as any trial does.

On the driver, `Groups` forms the groups as the searcher proposes trials: the first member of a
group is sampled as usual; the next ones have its shared hyperparameters (every one but those a
member has of its own) enqueued in Optuna, which samples the rest. A group is complete at the
spec's size, or smaller when the trials run out."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial

from tunelab.backend._events import FUSION_KEY
from tunelab.data import DataSplits
from tunelab.errors import TunelabError, error_line
from tunelab.models import Architecture
from tunelab.training import MEMBER_HYPERPARAMETERS, shared_part


@ray.remote
class FusedGroup:
    """A fused group's trainer: `expected` members, each asking for its epochs' results."""

    def __init__(
        self,
        expected: int,
        data: DataSplits,
        architecture: Architecture,
        options: dict[str, Any],
        max_epochs: int,
        threads: int,
        use_gpu: bool,
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        self.expected, self.max_epochs = expected, max_epochs
        self.changed = threading.Condition()
        self.configs: dict[int, dict[str, Any]] = {}  # the members that joined, by number
        self.left: set[int] = set()  # members whose trial ended, as the driver told
        self.asked: dict[int, int] = {}  # the epoch each member last asked for
        self.results: dict[tuple[int, int], tuple[str, Any]] = {}  # (member, epoch): result
        self.reported: dict[int, int] = {}  # the last epoch each member's result is of
        self.training: list[int] | None = None  # the members it trains, once it started
        self.broken: str | None = None  # the trainer's own error: every member fails with it
        threading.Thread(
            target=self._train,
            args=(data, architecture, options, use_gpu),
            name="tunelab-fused-group",
            daemon=True,
        ).start()

    def epoch(self, member: int, config: dict[str, Any], epoch: int) -> tuple[str, Any]:
        """Member `member` asks for its result of `epoch` (and so goes on to it): ("result",
        (metrics, checkpoint state)), ("failed", error line), or ("alone", None) when the group
        started without it (it trains alone)."""
        with self.changed:
            self.configs.setdefault(member, config)
            self.asked[member] = epoch
            self.changed.notify_all()
            if member in self.left:  # restarted after it left: it trains alone
                return "alone", None
            self.changed.wait_for(
                lambda: (
                    (member, epoch) in self.results
                    or self.broken is not None
                    or (self.training is not None and member not in self.training)
                )
            )
            if (member, epoch) in self.results:
                return self.results.pop((member, epoch))
            if self.broken is not None:
                return "failed", self.broken
            return "alone", None

    def leave(self, member: int) -> None:
        """The member's trial ended (stopped, failed, or restarted to train alone)."""
        with self.changed:
            self.left.add(member)
            self.changed.notify_all()

    def close(self, count: int) -> None:
        """No more than `count` members will come."""
        with self.changed:
            self.expected = count
            self.changed.notify_all()

    def _train(
        self, data: DataSplits, arch: Architecture, options: dict[str, Any], use_gpu: bool
    ) -> None:
        from tunelab.training import Device, train_fused

        with self.changed:
            self.changed.wait_for(lambda: len(set(self.configs) | self.left) >= self.expected)
            self.training = sorted(set(self.configs) - self.left)
            self.changed.notify_all()
        members = self.training
        if not members:
            return

        def report(member: int) -> Callable[[int, dict[str, float], dict[str, Any]], None]:
            def put(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
                with self.changed:
                    self.results[(member, epoch)] = ("result", (metrics, state))
                    self.reported[member] = epoch
                    self.changed.notify_all()

            return put

        def stop(number: int) -> bool:
            # After its result of an epoch, whether the member goes on: it asks for the next
            # epoch (it may have already), or the driver says its trial ended.
            member = members[number]
            with self.changed:
                self.changed.wait_for(
                    lambda: self.asked[member] > self.reported[member] or member in self.left
                )
                return self.asked[member] <= self.reported[member]

        def failed(number: int, error: BaseException) -> None:
            with self.changed:
                self.results[(members[number], self.asked[members[number]])] = (
                    "failed",
                    error_line(error),
                )
                self.changed.notify_all()

        try:
            train_fused(
                [self.configs[m] for m in members],
                data,
                arch,
                max_epochs=self.max_epochs,
                reports=[report(m) for m in members],
                stop=stop,
                failed=failed,
                device=Device.pick(use_gpu),
                options=options,
            )
        except Exception as exc:
            with self.changed:
                self.broken = error_line(exc)
                self.changed.notify_all()


class GroupLost(Exception):
    """The member's group trainer is gone (its node or process died): Ray restarts the member's
    trial, which trains alone from its last checkpoint."""


def train_member(
    fusion: dict[str, Any],
    config: dict[str, Any],
    max_epochs: int,
    report: Callable[[int, dict[str, float], dict[str, Any]], None],
) -> bool:
    """A member's trial: its results from its group's trainer, each reported as its own. False
    when it is to train alone (its group is gone, or started without it) before any epoch."""
    try:
        group = ray.get_actor(fusion["trainer"])
    except ValueError:
        return False
    member = int(fusion["member"])
    for epoch in range(1, max_epochs + 1):
        try:
            answer: tuple[str, Any] = ray.get(group.epoch.remote(member, config, epoch))  # type: ignore[assignment]
        except ray.exceptions.RayActorError as exc:
            # Its trainer died with its node: Ray restarts this trial, which trains alone
            # from its last checkpoint.
            raise GroupLost(f"node_lost: its fused group's trainer died ({exc})") from None
        kind, payload = answer
        if kind == "alone":
            if epoch == 1:
                return False
            raise GroupLost("its fused group went on without it")
        if kind == "failed":
            raise TunelabError(payload)
        metrics, state = payload
        report(epoch, metrics, state)
    return True


@dataclass
class Group:
    name: str  # group-003: its members' runs are tagged with it
    actor_name: str  # its trainer's, by which its members find it
    actor: Any
    shared: tuple[tuple[str, Any], ...]  # what its members share (shared_part of a config)
    params: dict[str, Any]  # the Optuna parameters its members share
    size: int
    members: dict[str, int] = field(default_factory=dict)  # Ray trial id: member number
    ended: set[str] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return len(self.members) >= self.size


class Groups:
    """A sweep's fused groups, on the driver: formed as the searcher proposes trials, each with
    its trainer, which is let go once all its members have ended."""

    def __init__(
        self,
        sweep: str,
        *,
        size: int,
        trials: int,
        data: DataSplits,
        architecture: Architecture,
        options: dict[str, Any],
        max_epochs: int,
        cpu: float,
        gpu: float,
        member_cpu: float,
    ) -> None:
        self.sweep, self.size, self.trials = sweep, size, trials
        self.data = ray.put(data)
        self.architecture, self.options, self.max_epochs = architecture, options, max_epochs
        self.cpu, self.gpu, self.member_cpu = cpu, gpu, member_cpu
        self.groups: list[Group] = []
        self.by_trial: dict[str, Group] = {}
        self.proposed = 0

    @property
    def open(self) -> Group | None:
        last = self.groups[-1] if self.groups else None
        return last if last is not None and not last.full else None

    def wanted(self) -> dict[str, Any] | None:
        """The Optuna parameters the next trial must take: the open group's shared ones."""
        group = self.open
        return dict(group.params) if group is not None else None

    def assign(self, trial_id: str, config: dict[str, Any], params: dict[str, Any]) -> dict:
        """Put the trial the searcher just proposed in a group: the open one, or a new one
        with this trial first. `params` are its Optuna parameters."""
        self.proposed += 1
        shared = shared_part(config)
        group = self.open
        if group is not None and group.shared != shared:
            # The space's conditions gave it other shared values: the open group is complete.
            self._close(group)
            group = None
        if group is None:
            group = self._start(shared, params)
        number = len(group.members)
        group.members[trial_id] = number
        self.by_trial[trial_id] = group
        return {"group": group.name, "trainer": group.actor_name, "member": number}

    def _start(self, shared: tuple[tuple[str, Any], ...], params: dict[str, Any]) -> Group:
        name = f"group-{len(self.groups):03d}"
        # Unique in the cluster: a resumed or extended sweep keeps its name.
        actor_name = f"tunelab-{self.sweep}-{name}-{uuid.uuid4().hex[:8]}"
        size = max(1, min(self.size, self.trials - self.proposed + 1))
        actor = FusedGroup.options(  # type: ignore[attr-defined]
            name=actor_name,
            num_cpus=self.cpu - self.size * self.member_cpu,
            num_gpus=self.gpu,
            max_concurrency=size + 4,
        ).remote(
            size,
            self.data,
            self.architecture,
            self.options,
            self.max_epochs,
            max(1, int(self.cpu)),
            self.gpu > 0,
        )
        own = {k: v for k, v in params.items() if k not in MEMBER_HYPERPARAMETERS}
        group = Group(name, actor_name, actor, shared=shared, params=own, size=size)
        self.groups.append(group)
        return group

    def _close(self, group: Group) -> None:
        if not group.full:
            group.size = len(group.members)
            group.actor.close.remote(group.size)

    def finished(self) -> None:
        """The searcher proposes no more trials: the open group is complete as it is."""
        if self.open is not None:
            self._close(self.open)

    def ended(self, trial_id: str) -> None:
        """A member's trial ended, or restarts to train alone: its group goes on without it, and
        its trainer is let go once no member is left."""
        group = self.by_trial.get(trial_id)
        if group is None or trial_id in group.ended:
            return
        group.ended.add(trial_id)
        group.actor.leave.remote(group.members[trial_id])
        if group.full and group.ended >= set(group.members):
            ray.kill(group.actor)

    def shutdown(self) -> None:
        for group in self.groups:
            with contextlib.suppress(Exception):
                ray.kill(group.actor)


_GROUPS: dict[str, Groups] = {}


@contextlib.contextmanager
def fused(groups: Groups | None) -> Iterator[None]:
    """Make `groups` the sweep's for the length of its run; their trainers go with it."""
    if groups is None:
        yield
        return
    _GROUPS[groups.sweep] = groups
    try:
        yield
    finally:
        _GROUPS.pop(groups.sweep, None)
        groups.shutdown()


def groups_of(sweep: str) -> Groups | None:
    return _GROUPS.get(sweep)


class FusionCallback(tune.Callback):
    """Tells a member's group when its trial ends or restarts. Pickled with the experiment:
    only the sweep's name."""

    def __init__(self, sweep: str) -> None:
        self.sweep = sweep

    def _ended(self, trial: Trial) -> None:
        groups = groups_of(self.sweep)
        if groups is not None:
            groups.ended(trial.trial_id)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._ended(trial)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._ended(trial)

    def on_trial_recover(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._ended(trial)


def member_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A trial's config without its fused group, and the group (None: not fused)."""
    config = dict(config)
    return config, config.pop(FUSION_KEY, None)
