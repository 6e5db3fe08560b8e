"""Checking that a seeded sweep reproduces: its recorded spec run again as a new sweep (the same
data, refused if it changed; the same warm start), then the two compared trial by trial, in trial
order: the same configuration, the same outcome at the same epoch, the same value, the same best.
The first difference is what the check reports."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab import tracking
from tunelab.errors import TunelabError
from tunelab.spec import LoadedSpec
from tunelab.sweeps._extend import EarlierTrial, recorded_trials
from tunelab.sweeps._result import SweepResult
from tunelab.tracking.tags import TAG_BEST_TRIAL

# On the CPU, with the threads a trial had, training is deterministic: the tolerance only
# absorbs the round trip of a value through the store.
VALUE_RTOL = 1e-6


@dataclass(frozen=True)
class Divergence:
    """Where a rerun first differs from the sweep it checks."""

    trial: str  # the trial's name, or "" for the sweep as a whole
    what: str  # "trials", "config", "outcome", "value" or "best"
    here: str  # the rerun's
    there: str  # the checked sweep's

    def describe(self, sweep: str) -> str:
        where = f"{self.trial}: " if self.trial else ""
        return f"{where}{self.what} {self.here} here, {self.there} in {sweep}"


@dataclass(frozen=True)
class SweepCheck:
    """A sweep run again from what another recorded, and where the two first differ."""

    against: str  # the sweep checked
    result: SweepResult  # the rerun
    trials: int  # the checked sweep's trials
    divergence: Divergence | None  # None: the same trials, results and best
    caveat: str | None = None  # why the checked sweep was not expected to reproduce

    def as_json(self) -> dict[str, Any]:
        d = self.divergence
        return {
            "against": self.against,
            "reproduced": self.reproduced,
            "divergence": None
            if d is None
            else {"trial": d.trial, "what": d.what, "here": d.here, "there": d.there},
            "caveat": self.caveat,
        }

    @property
    def reproduced(self) -> bool:
        return self.divergence is None and not (self.result.interrupted or self.result.terminated)

    def describe(self) -> str:
        """The check's one line."""
        if self.result.interrupted or self.result.terminated:
            return f"check against {self.against}: the rerun did not finish; nothing compared"
        if self.divergence is None:
            return (
                f"check against {self.against}: reproduced: the same {self.trials} trials (configs, "
                f"where each stopped, values) and the same best"
            )
        return f"check against {self.against}: diverged at {self.divergence.describe(self.against)}"


@dataclass(frozen=True)
class Checked:
    """The recorded spec of the sweep being checked, what its trials did, how it was seeded."""

    loaded: LoadedSpec
    trials: list[EarlierTrial]
    best_trial: str | None
    warm_start: str | None
    caveat: str | None  # why the sweep is not expected to reproduce, when it is not


def prepare_check(sweep: str, *, name: str | None, tracking_uri: str | None) -> Checked:
    """The recorded spec of a finished sweep, to run again (as `name`, else the sweep's name and a
    timestamp), and what it recorded."""
    client = tracking.client(tracking_uri)
    parent = tracking.find_sweep(client, sweep)
    if parent.info.status == "RUNNING":
        raise TunelabError(
            f"--check-against: sweep {sweep!r} is still running; check it once it ends"
        )
    overrides = {"--name": name} if name else {}
    with tempfile.TemporaryDirectory(prefix="tunelab-check-") as folder:
        loaded = tracking.sweep_spec(
            client,
            parent,
            Path(folder),
            overrides,
            missing=f"--check-against: sweep {sweep!r} recorded no spec (did it finish?)",
        )
    trials = recorded_trials(client, parent, loaded)
    return Checked(
        loaded=loaded,
        trials=sorted(trials, key=lambda t: t.name),
        best_trial=parent.data.tags.get(TAG_BEST_TRIAL),
        warm_start=parent.data.params.get("warm_start"),
        caveat=caveat(loaded),
    )


def caveat(loaded: LoadedSpec) -> str | None:
    """Why a sweep run from this spec may differ from run to run, or None."""
    spec = loaded.spec
    at_once = spec.budget.concurrency or 0
    seed_only = spec.searcher.sampler in ("random", "qmc")  # proposals that see no result
    if not spec.searcher.reproducible and not seed_only and at_once != 1:
        return (
            "it ran trials in parallel without searcher.reproducible: which trial ended "
            "first changed what was proposed next, so it is not expected to reproduce"
        )
    if spec.scheduler.population_based:
        return (
            "population based training exploits whichever trials are ahead when a trial "
            "gets to its interval, so it is not expected to reproduce"
        )
    return None


def rerun_trials(tracking_uri: str | None, sweep: str, loaded: LoadedSpec) -> list[EarlierTrial]:
    client = tracking.client(tracking_uri)
    parent = tracking.find_sweep(client, sweep)
    return sorted(recorded_trials(client, parent, loaded), key=lambda t: t.name)


def first_divergence(
    here: list[EarlierTrial],
    there: list[EarlierTrial],
    best_here: str | None,
    best_there: str | None,
) -> Divergence | None:
    """The first difference between two runs of a sweep, trial by trial in trial order (each
    list sorted by trial name), or None where they are the same."""
    for mine, theirs in zip(here, there, strict=False):
        found = _trial_divergence(mine, theirs)
        if found is not None:
            return found
    if len(here) != len(there):
        return Divergence("", "trials", str(len(here)), str(len(there)))
    if best_here != best_there:
        return Divergence("", "best", str(best_here), str(best_there))
    return None


def _trial_divergence(here: EarlierTrial, there: EarlierTrial) -> Divergence | None:
    name = there.name
    if here.name != name:
        return Divergence(name, "trials", f"named {here.name}", f"named {name}")
    if here.config != there.config:
        key = next(
            k
            for k in sorted({*here.config, *there.config})
            if here.config.get(k, _MISSING) != there.config.get(k, _MISSING)
        )
        return Divergence(
            name,
            "config",
            f"{key}={_shown(here.config.get(key, _MISSING))}",
            f"{key}={_shown(there.config.get(key, _MISSING))}",
        )
    if (here.outcome, here.last_epoch) != (there.outcome, there.last_epoch):
        return Divergence(name, "outcome", _ending(here), _ending(there))
    if not _same_value(here.last_value, there.last_value):
        return Divergence(
            name,
            "value",
            f"{_shown(here.last_value)} at epoch {here.last_epoch}",
            f"{_shown(there.last_value)}",
        )
    return None


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


_MISSING = _Missing()


def _same_value(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= VALUE_RTOL * max(abs(a), abs(b))


def _ending(trial: EarlierTrial) -> str:
    outcome = trial.outcome.value if trial.outcome is not None else "no end"
    return f"{outcome} after epoch {trial.last_epoch}"


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)
