"""A fused sweep's groups as the driver knows them (see _fusion): each group's members, the
proposals that make them (`Groups.propose`: the first member asked of Optuna as usual, the
next ones with the group's shared hyperparameters fixed), and `GroupControl`, the Ray actor a
group's process asks which of its members go on."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from tunelab.backend._events import FUSION_KEY
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
