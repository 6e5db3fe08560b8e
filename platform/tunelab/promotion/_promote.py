"""Promotion through the MLflow Model Registry: the sweep's best trial becomes a new version and
the `challenger`; it replaces the `champion` only when the gates pass, and every promotion,
refusal and rollback is recorded on the version and in the registered model's history."""

from __future__ import annotations

import getpass
import math
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import tracking
from tunelab.errors import NotFoundError, TunelabError
from tunelab.plugins import stored_code
from tunelab.promotion._gates import (
    Gate,
    beats_champion,
    feasible,
    interpretable,
    reproducible,
)
from tunelab.tracking import CHALLENGER, CHAMPION
from tunelab.tracking.tags import (
    TAG_CODE_VERSION,
    TAG_DATA_FINGERPRINT,
    TAG_DECISION,
    TAG_GATES,
    TAG_METRIC,
    TAG_MODEL_SHA256,
    TAG_REASON,
    TAG_REPORT_SANITY,
    TAG_ROLLBACK,
    TAG_RUN_ID,
    TAG_SWEEP,
    TAG_TIME,
    TAG_TRIAL,
    TAG_USER,
    metric_tag,
)

if TYPE_CHECKING:
    from tunelab.data import DataSplits
    from tunelab.tracking import Client


@dataclass
class Decision:
    model: str
    version: str
    action: str  # "promote", "force" or "refuse"
    gates: list[Gate]
    champion_before: str | None
    champion_after: str | None
    test_metrics: dict[str, float] = field(default_factory=dict)
    champion_test_metrics: dict[str, float] | None = None

    @property
    def promoted(self) -> bool:
        return self.action in ("promote", "force")

    @property
    def failed_gates(self) -> list[Gate]:
        return [g for g in self.gates if g.passed is False]


def promote(
    sweep: str,
    model_name: str,
    *,
    margin: float = 0.0,
    require_reproducible: bool = False,
    force: bool = False,
    reason: str | None = None,
    pick: str | None = None,
    tracking_uri: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
    trust_code: bool = False,
) -> Decision:
    """Register the sweep's best trial as a new version of `model_name` (alias `challenger`),
    score it and the current champion on the test split, and make it the `champion` when every
    gate passes (or with `force` and a `reason`). A multi-objective sweep's challenger is, with
    `pick` ("max val_accuracy", "min latency_ms"), the trial of its feasible Pareto front best
    by that objective; without, its best trial by the first objective. The decision (and the
    rule) is recorded on the version and in the model's history either way; `progress` is told
    each step."""
    with stored_code(refused=not trust_code):  # the stored spec names code: see plugins
        return _promote(
            sweep,
            model_name,
            margin=margin,
            require_reproducible=require_reproducible,
            force=force,
            reason=reason,
            pick=pick,
            tracking_uri=tracking_uri,
            progress=progress,
        )


def _promote(
    sweep: str,
    model_name: str,
    *,
    margin: float,
    require_reproducible: bool,
    force: bool,
    reason: str | None,
    pick: str | None,
    tracking_uri: str | None,
    progress: Callable[[str], None],
) -> Decision:
    """`promote`'s steps (see there). Long on purpose: they are the order the registry sees
    (the challenger registered and aliased before any gate is evaluated; the decision's record
    checked before the champion alias moves; the alias, the version's tags, the history), which
    a split would hide behind functions that each take most of the others' values."""
    from tunelab.promotion._evaluation import (
        data_fingerprint,
        evaluate_on_test,
        metric_on_test_split,
    )
    from tunelab.sweeps import load_data
    from tunelab.training import load_model

    if force and not (reason and reason.strip()):
        raise TunelabError("--force needs --reason TEXT: the reason is kept in the registry")
    if not math.isfinite(margin) or margin < 0:
        raise TunelabError(f"--margin must be >= 0 and finite, got {margin}")
    check_reason(reason)
    client = tracking.client(tracking_uri)
    parent = tracking.find_sweep(client, sweep)
    with tempfile.TemporaryDirectory(prefix="tunelab-promote-") as scratch:
        folder = Path(scratch)
        summary = tracking.sweep_summary(client, parent, folder)
        best = summary.get("best") if pick is None else picked(summary, pick, sweep)
        if not best or not best.get("run_id"):
            raise NotFoundError(f"sweep {sweep!r} has no best trial to promote")
        run = tracking.get_run(client, best["run_id"])
        loaded = tracking.trial_spec(client, run, folder, parent)
        metric, mode = loaded.spec.metric, loaded.spec.mode
        best = {**best, "metric": best.get("metric", run.data.metrics.get(metric))}
        test_name = metric_on_test_split(metric)
        data = load_data(loaded)
        # Its files as the sweep logged them, or refused; the version keeps the same digest.
        logged = tracking.fetch_verified_model(
            client, f"runs:/{run.info.run_id}/{tracking.MODEL_ARTIFACT}", folder / "challenger"
        )
        checkpoint = logged.checkpoint
        challenger = load_model(checkpoint)
        progress(f"evaluating {best['trial']} of sweep {sweep} on the test split")
        test_metrics = evaluate_on_test(challenger.model, challenger.trainer, data)
        champion_version = tracking.alias_version(client, model_name, CHAMPION)
        facts = {
            TAG_SWEEP: sweep,
            TAG_TRIAL: best["trial"],
            TAG_RUN_ID: run.info.run_id,
            TAG_METRIC: metric,
            metric_tag(metric): best["metric"],
            **{metric_tag(k): v for k, v in test_metrics.items()},
            TAG_DATA_FINGERPRINT: data_fingerprint(data, loaded.spec.dataset.label),
            TAG_CODE_VERSION: code_version(),
            TAG_USER: user(),
            TAG_TIME: now(),
            TAG_MODEL_SHA256: logged.digest,
        }
        version = tracking.register_version(client, model_name, run.info.run_id, facts)
        tracking.set_alias(client, model_name, CHALLENGER, version.version)
        progress(f"registered {model_name} version {version.version} as {CHALLENGER}")

        champion_metrics = None
        if champion_version is not None:
            champion_metrics = _champion_metrics(
                client, model_name, champion_version, data, folder / "champion"
            )
        reproduction = None
        if require_reproducible:
            from tunelab.promotion._reproduce import reproduce

            progress(f"reproducing run {run.info.run_id}")
            reproduction = reproduce(run.info.run_id, tracking_uri=client.tracking_uri)
        gates = [
            beats_champion(
                test_name,
                mode,
                margin,
                test_metrics,
                None if champion_version is None else str(champion_version.version),
                champion_metrics,
            ),
            reproducible(reproduction),
            interpretable(run.data.tags.get(TAG_REPORT_SANITY)),
            feasible(loaded.spec.constraints, run.data.metrics),
        ]
    passed = all(g.passed is not False for g in gates)
    action = "promote" if passed else ("force" if force else "refuse")
    number = str(version.version)  # an int in MLflow 3's entities; events keep strings
    before = str(champion_version.version) if champion_version is not None else None
    after = number if action != "refuse" else before
    decision = Decision(
        model=model_name,
        version=number,
        action=action,
        gates=gates,
        champion_before=before,
        champion_after=after,
        test_metrics=test_metrics,
        champion_test_metrics=champion_metrics,
    )
    record = {
        "action": action,
        "version": number,
        "champion_before": before,
        "champion_after": after,
        "sweep": sweep,
        "trial": best["trial"],
        "run_id": run.info.run_id,
        "gates": {g.name: {"passed": g.passed, "detail": g.detail} for g in gates},
        **({"pick": pick} if pick is not None else {}),
        "user": facts[TAG_USER],
        "time": now(),
        **_reason(reason, key="reason"),
    }
    version_tags = {TAG_DECISION: action, TAG_GATES: record["gates"], **_reason(reason)}
    tracking.check_tag_values([record, *version_tags.values()])  # before anything moves
    if action != "refuse":
        tracking.set_alias(client, model_name, CHAMPION, number)
    tracking.tag_version(client, model_name, number, version_tags)
    tracking.append_event(client, model_name, record)
    return decision


def picked(summary: dict[str, Any], pick: str, sweep: str) -> dict[str, Any]:
    """The entry of a multi-objective sweep's feasible Pareto front that `pick` ("max METRIC"
    or "min METRIC", METRIC one of its objectives) chooses; a tie goes to the front's order."""
    words = pick.split()
    if len(words) != 2 or words[0] not in ("max", "min"):
        raise TunelabError(f"--pick takes 'max METRIC' or 'min METRIC', got {pick!r}")
    direction, metric = words
    front = summary.get("pareto_front")
    if front is None:
        raise TunelabError(
            f"--pick chooses among a multi-objective sweep's Pareto front; sweep {sweep!r} "
            "has one metric: its best trial is the challenger"
        )
    objectives = sorted({m for entry in front for m in entry.get("values", {})})
    if front and metric not in objectives:
        raise TunelabError(
            f"--pick: {metric!r} is not an objective of sweep {sweep!r}; its objectives: "
            f"{', '.join(objectives)}"
        )
    if not front:
        raise NotFoundError(f"sweep {sweep!r} has no feasible trial on its Pareto front to pick")
    sign = 1.0 if direction == "max" else -1.0
    return max(front, key=lambda entry: sign * float(entry["values"][metric]))


def rollback(
    model_name: str, *, reason: str | None = None, tracking_uri: str | None = None
) -> dict[str, Any]:
    """Move `champion` back to the version it replaced, recorded like a promotion."""
    check_reason(reason)
    client = tracking.client(tracking_uri)
    events = tracking.history(client, model_name)
    found = tracking.alias_version(client, model_name, CHAMPION)
    if found is None:
        raise NotFoundError(f"{model_name!r} has no {CHAMPION} to roll back")
    current = str(found.version)
    arrival = next(
        (
            e
            for e in reversed(events)
            if e.get("champion_after") == current and e.get("champion_before") != current
        ),
        None,
    )
    previous = arrival.get("champion_before") if arrival else None
    if previous is None:
        raise TunelabError(
            f"{model_name} version {current} is the first {CHAMPION}: there is none to roll back to"
        )
    tracking.set_alias(client, model_name, CHAMPION, previous)
    event = {
        "action": "rollback",
        "version": previous,
        "champion_before": current,
        "champion_after": previous,
        "user": user(),
        "time": now(),
        **_reason(reason, key="reason"),
    }
    tracking.tag_version(
        client,
        model_name,
        previous,
        {
            TAG_ROLLBACK: {
                "from": current,
                "time": event["time"],
                "user": event["user"],
            }
        },
    )
    tracking.append_event(client, model_name, event)
    return event


MAX_REASON = 1000  # characters: with the rest of an event, within a registry tag's 5,000


def check_reason(reason: str | None) -> None:
    """A reason that fits the history, checked before anything is registered or moved: every
    move must be recorded, and a tag too long for the registry would fail after the move."""
    if reason is not None and len(reason.strip()) > MAX_REASON:
        raise TunelabError(
            f"--reason is {len(reason.strip())} characters; the registry's history keeps at "
            f"most {MAX_REASON}"
        )


def _reason(reason: str | None, key: str = TAG_REASON) -> dict[str, str]:
    return {key: reason.strip()} if reason and reason.strip() else {}


def _champion_metrics(
    client: Client, name: str, version: Any, data: DataSplits, into: Path
) -> dict[str, float] | None:
    from tunelab.promotion._evaluation import evaluate_on_test
    from tunelab.training import load_model

    model = load_model(
        tracking.verified_checkpoint(client, f"models:/{name}/{version.version}", into)
    )
    if tuple(model.info.input_shape) != tuple(data.info.input_shape):
        return None
    return evaluate_on_test(model.model, model.trainer, data)


def code_version() -> str:
    """tunelab's version, and the git commit of the working folder when it is a clean checkout
    (a dirty one is marked so)."""
    from tunelab.version import __version__

    text = f"tunelab {__version__}"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return text
    if commit.returncode == 0:
        text += f" (git {commit.stdout.strip()}{', modified' if dirty.stdout.strip() else ''})"
    return text


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
