"""What `tunelab report TARGET` explains: a trial's run, a sweep's best trials, or a registered
model, each found in MLflow with its checkpoint and the spec (hence the data) it was trained on."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import TunelabError
from tunelab.tracking._mapping import PARENT_TAG, TAG_ROLE, TAG_SWEEP, TAG_TRIAL_ID, first_line_of
from tunelab.tracking._sources import RUN_ID, fetch_checkpoint
from tunelab.tracking._sweep import MODEL_ARTIFACT, SPEC_ARTIFACT

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from tunelab.spec import LoadedSpec

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")
SWEEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,249}$")


class ReportError(TunelabError):
    """The report's target cannot be found or explained."""


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


def resolve(target: str, *, top: int | None, client: MlflowClient, into: Path) -> Resolved:
    if top is not None and (target.startswith("models:/") or RUN_ID.match(target)):
        raise ReportError("--top applies to a sweep name, not to a run or a registered model")
    if target.startswith("models:/"):
        return Resolved([_registered(target, client, into)])
    if RUN_ID.match(target):
        run = _get_run(client, target)
        return Resolved([_subject(client, run, into, label=_trial_label(run))])
    return _sweep(target, top or 1, client, into)


def _registered(target: str, client: MlflowClient, into: Path) -> Subject:
    from mlflow.exceptions import MlflowException

    match = MODEL_URI.match(target)
    if match is None:
        raise ReportError(f"{target}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    name = match["name"]
    try:
        if match["alias"]:
            version = client.get_model_version_by_alias(name, match["alias"])
        else:
            version = client.get_model_version(name, match["version"])
    except MlflowException as exc:
        raise ReportError(f"{target}: {first_line_of(exc)}") from None
    if not version.run_id:
        raise ReportError(f"{target}: version {version.version} was not logged from a run")
    run = _get_run(client, version.run_id)
    label = f"{target} (version {version.version}, {_trial_label(run)})"
    return _subject(client, run, into, label=label, model_ref=target)


def _sweep(name: str, top: int, client: MlflowClient, into: Path) -> Resolved:
    if not SWEEP_NAME.match(name):
        raise ReportError(
            f"{name!r} is not a run id, a models:/ URI or a sweep name (letters, digits, . _ : + -)"
        )
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(
        experiments,
        filter_string=f"tags.`{TAG_SWEEP}` = '{name}' AND tags.`{TAG_ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        raise ReportError(f"no sweep named {name!r} in {client.tracking_uri}")
    parent = parents[0]
    folder = into / parent.info.run_id
    try:
        path = client.download_artifacts(parent.info.run_id, "sweep_summary.json", str(folder))
    except Exception as exc:
        raise ReportError(
            f"sweep {name!r} has no summary (did it finish?): {first_line_of(exc)}"
        ) from None
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    ranked = [entry for entry in summary.get("top", []) if entry.get("run_id")]
    if not ranked:
        raise ReportError(f"sweep {name!r} has no finished trial to explain")
    if top > len(ranked):
        raise ReportError(f"--top {top}: sweep {name!r} ranks {len(ranked)} trials")
    subjects = []
    for rank, entry in enumerate(ranked[:top], start=1):
        run = _get_run(client, entry["run_id"])
        label = f"{entry['trial']} of sweep {name} (rank {rank})"
        subjects.append(_subject(client, run, into, label=label, parent=parent))
    return Resolved(subjects, sweep=name, parent_run_id=parent.info.run_id)


def _get_run(client: MlflowClient, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise ReportError(f"no run {run_id} in {client.tracking_uri}") from None


def _trial_label(run: Any) -> str:
    tags = run.data.tags
    if TAG_SWEEP in tags:
        return f"{tags.get(TAG_TRIAL_ID, run.info.run_name)} of sweep {tags[TAG_SWEEP]}"
    return f"run {run.info.run_id}"


def _subject(
    client: MlflowClient,
    run: Any,
    into: Path,
    *,
    label: str,
    parent: Any = None,
    model_ref: str | None = None,
) -> Subject:
    from tunelab.spec import parse_spec
    from tunelab.spec._checks import check_spec

    run_id = run.info.run_id
    if parent is None:
        parent_id = run.data.tags.get(PARENT_TAG)
        if run.data.tags.get(TAG_ROLE) != "trial" or not parent_id:
            raise ReportError(
                f"run {run_id} is not a tunelab trial: no sweep to take its data from"
            )
        parent = _get_run(client, parent_id)
    folder = into / run_id
    try:
        checkpoint = fetch_checkpoint(
            model_ref or f"runs:/{run_id}/{MODEL_ARTIFACT}", client.tracking_uri, folder
        )
    except TunelabError:
        from tunelab.tracking._sweep import TOP_TRIALS

        raise ReportError(
            f"run {run_id} has no logged model (a sweep logs the models of its {TOP_TRIALS} "
            "best trials)"
        ) from None
    try:
        spec_file = client.download_artifacts(parent.info.run_id, SPEC_ARTIFACT, str(folder))
    except Exception as exc:
        raise ReportError(
            f"the sweep of run {run_id} has no {SPEC_ARTIFACT}: {first_line_of(exc)}"
        ) from None
    text = Path(spec_file).read_text(encoding="utf-8")
    # Data files in the spec are relative to where the spec was: the path the sweep recorded.
    source = parent.data.params.get("spec_file", spec_file)
    loaded = parse_spec(text, source)
    check_spec(loaded)
    return Subject(run_id=run_id, label=label, checkpoint=checkpoint, spec=loaded)
