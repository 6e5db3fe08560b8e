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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial

from tunelab.backend._events import FUSION_KEY
from tunelab.backend._live import live
from tunelab.data import DataSplits
from tunelab.errors import TunelabError, error_line
from tunelab.models import Architecture
from tunelab.training import MEMBER_HYPERPARAMETERS, shared_part


@dataclass
class Session:
    """One fused group on its trainer, each member asking for its epochs' results. Its calls
    come from several processes, in no set order: a member may ask before the driver began it."""

    size: int | None = None  # the members it waits for, once begun
    closed: int | None = None  # fewer came: the searcher proposed no more
    configs: dict[int, dict[str, Any]] = field(default_factory=dict)  # members that joined
    left: set[int] = field(default_factory=set)  # members whose trial ended, as the driver told
    asked: dict[int, int] = field(default_factory=dict)  # the epoch each member last asked for
    results: dict[tuple[int, int], tuple[str, Any]] = field(default_factory=dict)
    reported: dict[int, int] = field(default_factory=dict)  # each member's last result's epoch
    training: list[int] | None = None  # the members it trains, once it started
    broken: str | None = None  # the trainer's own error: every member fails with it

    @property
    def complete(self) -> bool:
        if self.size is None:
            return False
        expected = self.size if self.closed is None else min(self.size, self.closed)
        return len(set(self.configs) | self.left) >= expected


@ray.remote
class FusedTrainer:
    """Trains fused groups on the resources it holds, one group after another, in the order
    the driver began them: a sweep starts a trainer (a process, torch imported) per group it
    runs at once, not per group."""

    def __init__(
        self,
        data: DataSplits,
        architecture: Architecture,
        options: dict[str, Any],
        max_epochs: int,
        threads: int,
        use_gpu: bool,
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        self.data, self.architecture, self.model_options = data, architecture, options
        self.max_epochs, self.use_gpu = max_epochs, use_gpu
        self.changed = threading.Condition()
        self.sessions: dict[str, Session] = {}
        self.queue: list[str] = []  # groups begun, in order; the first is trained now
        self.finished: set[str] = set()  # groups it trained
        threading.Thread(target=self._serve, name="tunelab-fused", daemon=True).start()

    def begin(self, group: str, size: int) -> None:
        with self.changed:
            self.sessions.setdefault(group, Session()).size = size
            self.queue.append(group)
            self.changed.notify_all()

    def epoch(self, group: str, member: int, config: dict[str, Any], epoch: int) -> tuple:
        """Member `member` asks for its result of `epoch` (and so goes on to it): ("result",
        (metrics, checkpoint bytes)), ("failed", error line), or ("alone", None) when the group
        trains without it (it trains alone)."""
        with self.changed:
            if group in self.finished:  # restarted after its group trained
                return "alone", None
            session = self.sessions.setdefault(group, Session())
            if member in session.left:  # restarted after it left
                return "alone", None
            session.configs.setdefault(member, config)
            session.asked[member] = epoch
            self.changed.notify_all()
            self.changed.wait_for(
                lambda: (
                    (member, epoch) in session.results
                    or session.broken is not None
                    or (session.training is not None and member not in session.training)
                )
            )
            if (member, epoch) in session.results:
                return session.results.pop((member, epoch))
            if session.broken is not None:
                return "failed", session.broken
            return "alone", None

    def leave(self, group: str, member: int) -> None:
        """The member's trial ended (stopped, failed, or restarted to train alone)."""
        with self.changed:
            if group not in self.finished:
                self.sessions.setdefault(group, Session()).left.add(member)
            self.changed.notify_all()

    def close(self, group: str, count: int) -> None:
        """No more than `count` members will come."""
        with self.changed:
            if group not in self.finished:
                self.sessions.setdefault(group, Session()).closed = count
            self.changed.notify_all()

    def _serve(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: bool(self.queue))
                group = self.queue[0]
                session = self.sessions[group]
                self.changed.wait_for(lambda s=session: s.complete)  # type: ignore[misc]
                session.training = sorted(set(session.configs) - session.left)
                self.changed.notify_all()
            self._train(session)
            with self.changed:
                self.queue.pop(0)
                del self.sessions[group]
                self.finished.add(group)

    def _train(self, session: Session) -> None:
        from tunelab.training import Device, checkpoint_bytes, train_fused

        members = session.training
        if not members:
            return

        def report(member: int) -> Callable[[int, dict[str, float], dict[str, Any]], None]:
            def put(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
                data = checkpoint_bytes(state)  # its file's bytes: the member needs no torch
                with self.changed:
                    session.results[(member, epoch)] = ("result", (metrics, data))
                    session.reported[member] = epoch
                    self.changed.notify_all()

            return put

        def stop(number: int) -> bool:
            # After its result of an epoch, whether the member goes on: it asks for the next
            # epoch (it may have already), or the driver says its trial ended.
            member = members[number]
            with self.changed:
                self.changed.wait_for(
                    lambda: (
                        session.asked[member] > session.reported[member] or member in session.left
                    )
                )
                return session.asked[member] <= session.reported[member]

        def failed(number: int, error: BaseException) -> None:
            member = members[number]
            with self.changed:
                session.results[(member, session.asked[member])] = ("failed", error_line(error))
                self.changed.notify_all()

        try:
            train_fused(
                [session.configs[m] for m in members],
                self.data,
                self.architecture,
                max_epochs=self.max_epochs,
                reports=[report(m) for m in members],
                stop=stop,
                failed=failed,
                device=Device.pick(self.use_gpu),
                options=self.model_options,
            )
        except Exception as exc:
            with self.changed:
                session.broken = error_line(exc)
                self.changed.notify_all()
        # A member still waiting for a result that will not come (an error above) is told.
        with self.changed:
            session.training = []
            self.changed.notify_all()


class GroupLost(TunelabError):
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
        trainer = ray.get_actor(fusion["trainer"])
    except ValueError:
        return False
    member = int(fusion["member"])
    for epoch in range(1, max_epochs + 1):
        try:
            asked: Any = trainer.epoch.remote(fusion["group"], member, config, epoch)
            answer: tuple[str, Any] = ray.get(asked)
        except ray.exceptions.RayActorError:
            # Its trainer died (its process, its node): Ray restarts this trial, which trains
            # alone from its last checkpoint.
            raise GroupLost("worker_crashed: the process training its fused group died") from None
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
class Trainer:
    name: str  # its Ray actor's, by which members find it
    actor: Any
    groups: list[Group] = field(default_factory=list)

    @property
    def load(self) -> int:
        """Members of its groups that have not ended: what it has left to train."""
        return sum(len(g.members) - len(g.ended) for g in self.groups)


@dataclass
class Group:
    name: str  # group-003: its members' runs are tagged with it
    trainer: Trainer
    shared: tuple[tuple[str, Any], ...]  # what its members share (shared_part of a config)
    params: dict[str, Any]  # the Optuna parameters its members share
    size: int
    members: dict[str, int] = field(default_factory=dict)  # Ray trial id: member number
    ended: set[str] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return len(self.members) >= self.size


class Groups:
    """A sweep's fused groups, on the driver: formed as the searcher proposes trials. Each is
    trained by one of `slots` trainers (as many groups as the resources hold at once), started
    as they are first needed; a group begun on a busy trainer waits for it (its members wait,
    holding no resources but a sliver of CPU)."""

    def __init__(
        self,
        sweep: str,
        *,
        size: int,
        slots: int,
        trials: int,
        data: DataSplits,
        architecture: Architecture,
        options: dict[str, Any],
        max_epochs: int,
        cpu: float,
        gpu: float,
        member_cpu: float,
    ) -> None:
        self.sweep, self.size, self.slots, self.trials = sweep, size, slots, trials
        self.data = ray.put(data)
        self.architecture, self.options, self.max_epochs = architecture, options, max_epochs
        self.cpu, self.gpu, self.member_cpu = cpu, gpu, member_cpu
        self.trainers: list[Trainer] = []
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
        return {"group": group.name, "trainer": group.trainer.name, "member": number}

    def _start(self, shared: tuple[tuple[str, Any], ...], params: dict[str, Any]) -> Group:
        size = max(1, min(self.size, self.trials - self.proposed + 1))
        trainer = min(self.trainers, key=lambda t: t.load, default=None)
        if trainer is None or (trainer.load and len(self.trainers) < self.slots):
            trainer = self._trainer()
        own = {k: v for k, v in params.items() if k not in MEMBER_HYPERPARAMETERS}
        name = f"group-{len(self.groups):03d}"
        group = Group(name, trainer, shared=shared, params=own, size=size)
        trainer.actor.begin.remote(name, size)
        trainer.groups.append(group)
        self.groups.append(group)
        return group

    def _trainer(self) -> Trainer:
        # Unique in the cluster: a resumed or extended sweep keeps its name.
        name = f"tunelab-{self.sweep}-trainer-{len(self.trainers)}-{uuid.uuid4().hex[:8]}"
        actor = FusedTrainer.options(  # type: ignore[attr-defined]
            name=name,
            num_cpus=self.cpu - self.size * self.member_cpu,
            num_gpus=self.gpu,
            max_concurrency=4 * self.size + 8,  # its current group's members, the next ones'
        ).remote(
            self.data,
            self.architecture,
            self.options,
            self.max_epochs,
            max(1, int(self.cpu)),
            self.gpu > 0,
        )
        trainer = Trainer(name, actor)
        self.trainers.append(trainer)
        return trainer

    def _close(self, group: Group) -> None:
        if not group.full:
            group.size = len(group.members)
            group.trainer.actor.close.remote(group.name, group.size)

    def finished(self) -> None:
        """The searcher proposes no more trials: the open group is complete as it is."""
        if self.open is not None:
            self._close(self.open)

    def ended(self, trial_id: str) -> None:
        """A member's trial ended, or restarts to train alone: its group goes on without it."""
        group = self.by_trial.get(trial_id)
        if group is None or trial_id in group.ended:
            return
        group.ended.add(trial_id)
        group.trainer.actor.leave.remote(group.name, group.members[trial_id])
        if group.full and group.ended >= set(group.members):
            group.trainer.groups.remove(group)

    def shutdown(self) -> None:
        for trainer in self.trainers:
            with contextlib.suppress(Exception):
                ray.kill(trainer.actor)


class FusionCallback(tune.Callback):
    """Tells a member's group when its trial ends or restarts. Pickled with the experiment:
    only the sweep's name."""

    def __init__(self, sweep: str) -> None:
        self.sweep = sweep

    def _ended(self, trial: Trial) -> None:
        groups = live(self.sweep).groups
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
