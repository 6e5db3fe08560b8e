"""What `tunelab report TARGET` explains: a trial's run, a sweep's best trials, or a registered
model, each found in MLflow with its checkpoint and the spec (hence the data) it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import tracking
from tunelab.errors import ReportError, SourceError
from tunelab.tracking import MODEL_ARTIFACT, RUN_ID, verified_checkpoint
from tunelab.tracking.tags import TAG_SWEEP, TAG_TRIAL_ID

if TYPE_CHECKING:
    from tunelab.spec import LoadedSpec
    from tunelab.tracking import Client


@dataclass(frozen=True)
class Subject:
    run_id: str  # the run the report is logged to
    label: str
    checkpoint: Path
    spec: LoadedSpec


@dataclass(frozen=True)
class Resolved:
    subjects: list[Subject]
    sweep: str | None = None
    parent_run_id: str | None = None  # where a comparison of several trials is logged


def resolve(target: str, *, top: int | None, client: Client, into: Path) -> Resolved:
    if top is not None and (target.startswith("models:/") or RUN_ID.match(target)):
        raise ReportError("--top applies to a sweep name, not to a run or a registered model")
    if target.startswith("models:/"):
        version = tracking.model_version(client, target)
        if not version.run_id:
            raise ReportError(f"{target}: version {version.version} was not logged from a run")
        run = tracking.get_run(client, version.run_id)
        label = f"{target} (version {version.version}, {_trial_label(run)})"
        return Resolved([_subject(client, run, into, label=label, model_ref=target)])
    if RUN_ID.match(target):
        run = tracking.get_run(client, target)
        return Resolved([_subject(client, run, into, label=_trial_label(run))])
    return _sweep(target, top or 1, client, into)


def _sweep(name: str, top: int, client: Client, into: Path) -> Resolved:
    parent = tracking.find_sweep(client, name)
    summary = tracking.sweep_summary(client, parent, into)
    ranked = [entry for entry in summary.get("top", []) if entry.get("run_id")]
    if not ranked:
        raise ReportError(f"sweep {name!r} has no finished trial to explain")
    if top > len(ranked):
        raise ReportError(f"--top {top}: sweep {name!r} ranks {len(ranked)} trials")
    subjects = []
    for rank, entry in enumerate(ranked[:top], start=1):
        run = tracking.get_run(client, entry["run_id"])
        label = f"{entry['trial']} of sweep {name} (rank {rank})"
        subjects.append(_subject(client, run, into, label=label, parent=parent))
    return Resolved(subjects, sweep=name, parent_run_id=parent.info.run_id)


def _trial_label(run: Any) -> str:
    """A trial by the name it has everywhere else (trial-007), not Ray's id for it."""
    tags = run.data.tags
    if TAG_SWEEP in tags:
        return f"{run.info.run_name or tags.get(TAG_TRIAL_ID)} of sweep {tags[TAG_SWEEP]}"
    return f"run {run.info.run_id}"


def _subject(
    client: Client,
    run: Any,
    into: Path,
    *,
    label: str,
    parent: Any = None,
    model_ref: str | None = None,
) -> Subject:
    from tunelab.sweeps import TOP_TRIALS

    run_id = run.info.run_id
    spec = tracking.trial_spec(client, run, into, parent)
    try:
        # Its files as the sweep logged them, or refused (UnsafeModelError is not caught here).
        checkpoint = verified_checkpoint(
            client, model_ref or f"runs:/{run_id}/{MODEL_ARTIFACT}", into / run_id
        )
    except SourceError:
        raise ReportError(
            f"run {run_id} has no logged model (a sweep logs the models of its {TOP_TRIALS} "
            "best trials)"
        ) from None
    return Subject(run_id=run_id, label=label, checkpoint=checkpoint, spec=spec)
