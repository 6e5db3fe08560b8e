"""Finding what a command names in MLflow: a run, a sweep, a registered model version, and the
spec a trial was trained from (hence its data). Every miss is a NotFoundError of one line."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab import env
from tunelab.errors import NotFoundError, TrackingError, first_line_of
from tunelab.tracking._sqlite import creating
from tunelab.tracking.tags import (
    PARENT_TAG,
    ROLE_SWEEP,
    ROLE_TRIAL,
    SPEC_ARTIFACT,
    SUMMARY_ARTIFACT,
    TAG_DATA_SHA256,
    TAG_ROLE,
    TAG_SWEEP,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

    from tunelab.spec import LoadedSpec

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")
SWEEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,249}$")


REACH_TIMEOUT_S = 10.0  # a tracking server that does not answer its health check in this


def client(tracking_uri: str | None) -> MlflowClient:
    """A client of the tracking store, whose registry is the same store (MLflow's default),
    checked to answer: a store that cannot be used is one TrackingError, within seconds, not a
    traceback or minutes of retries."""
    from mlflow import MlflowClient

    env.apply_library_defaults(
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    )
    try:
        with creating(tracking_uri):  # a new SQLite store: one process creates its tables
            made = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            uri = made.tracking_uri
            if uri.startswith(("http://", "https://")):
                import requests

                health = f"{uri.rstrip('/')}/health"
                requests.get(health, timeout=REACH_TIMEOUT_S).raise_for_status()
            else:
                made.search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingError(
            f"cannot use the tracking store {tracking_uri or 'here'}: {first_line_of(exc)}"
        ) from None
    return made


def get_run(client: MlflowClient, run_id: str) -> Run:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise NotFoundError(f"no run {run_id} in {client.tracking_uri}") from None


def find_sweep(client: MlflowClient, name: str) -> Run:
    """The parent run of the latest sweep called `name`."""
    if not SWEEP_NAME.match(name):
        raise NotFoundError(
            f"{name!r} is not a run id, a models:/ URI or a sweep name (letters, digits, . _ : + -)"
        )
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(
        experiments,
        filter_string=f"tags.`{TAG_SWEEP}` = '{name}' AND tags.`{TAG_ROLE}` = '{ROLE_SWEEP}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        raise NotFoundError(f"no sweep named {name!r} in {client.tracking_uri}")
    return parents[0]


def _download(client: MlflowClient, run: Run, artifact: str, into: Path, missing: str) -> Path:
    """A run's artifact, under INTO/RUN_ID; `missing` starts the error when it cannot be had."""
    try:
        path = client.download_artifacts(run.info.run_id, artifact, str(into / run.info.run_id))
    except Exception as exc:
        raise NotFoundError(f"{missing}: {first_line_of(exc)}") from None
    return Path(path)


def sweep_summary(client: MlflowClient, parent: Run, into: Path) -> dict[str, Any]:
    name = parent.data.tags.get(TAG_SWEEP, parent.info.run_id)
    path = _download(
        client, parent, SUMMARY_ARTIFACT, into, f"sweep {name!r} has no summary (did it finish?)"
    )
    summary: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return summary


def sweep_spec(
    client: MlflowClient,
    parent: Run,
    into: Path,
    overrides: dict[str, Any] | None = None,
    missing: str | None = None,
) -> LoadedSpec:
    """The spec a sweep recorded, parsed and checked as the sweep did, with `overrides`."""
    from tunelab.spec import check_spec, parse_spec

    name = parent.data.tags.get(TAG_SWEEP, parent.info.run_id)
    path = _download(
        client, parent, SPEC_ARTIFACT, into, missing or f"sweep {name!r} has no {SPEC_ARTIFACT}"
    )
    # Data files in the spec are relative to where the spec was: the path the sweep recorded.
    source = parent.data.params.get("spec_file", str(path))
    text = path.read_text(encoding="utf-8")
    # Errors name that file where it still holds the text recorded (so its lines are right),
    # else the spec recorded (flags in place, or the file edited since).
    shown = "" if _text_of(source) == text else f"{SPEC_ARTIFACT} recorded by sweep {name!r}"
    loaded = parse_spec(text, source, overrides, shown=shown)
    check_spec(loaded)
    return dataclasses.replace(loaded, data_sha256=parent.data.tags.get(TAG_DATA_SHA256))


def _text_of(file: str) -> str | None:
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def all_sweeps(client: MlflowClient) -> list[Run]:
    """Every sweep's parent run in the store, the latest first."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    found: list[Run] = client.search_runs(
        experiments,
        filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_SWEEP}'",
        order_by=["attributes.start_time DESC"],
        max_results=50_000,
    )
    return found


def all_trials(client: MlflowClient) -> list[Run]:
    """Every trial's child run in the store."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    found: list[Run] = client.search_runs(
        experiments, filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'", max_results=50_000
    )
    return found


def end_run(client: MlflowClient, run_id: str, status: str, tags: dict[str, str]) -> None:
    """Set a run's tags, then end it with `status` (FINISHED, FAILED, KILLED)."""
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, status)


def sweep_trials(client: MlflowClient, parent: Run) -> list[Run]:
    """The child runs of a sweep's trials."""
    name = parent.data.tags.get(TAG_SWEEP, "")
    found: list[Run] = client.search_runs(
        [parent.info.experiment_id],
        f"tags.`{TAG_SWEEP}` = '{name}' AND tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'",
        max_results=50_000,
    )
    return found


def model_version(client: MlflowClient, uri: str) -> ModelVersion:
    """The version `models:/NAME@ALIAS` or `models:/NAME/VERSION` names."""
    from mlflow.exceptions import MlflowException

    match = MODEL_URI.match(uri)
    if match is None:
        raise NotFoundError(f"{uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    try:
        if match["alias"]:
            return client.get_model_version_by_alias(match["name"], match["alias"])
        return client.get_model_version(match["name"], match["version"])
    except MlflowException as exc:
        raise NotFoundError(f"{uri}: {first_line_of(exc)}") from None


def trial_spec(client: MlflowClient, run: Run, into: Path, parent: Run | None = None) -> LoadedSpec:
    """The spec of the sweep a trial's run belongs to, as the sweep recorded it."""
    run_id = run.info.run_id
    if parent is None:
        parent_id = run.data.tags.get(PARENT_TAG)
        if run.data.tags.get(TAG_ROLE) != ROLE_TRIAL or not parent_id:
            raise NotFoundError(
                f"run {run_id} is not a tunelab trial: no sweep to take its data from"
            )
        parent = get_run(client, parent_id)
    return sweep_spec(
        client, parent, into, missing=f"the sweep of run {run_id} has no {SPEC_ARTIFACT}"
    )


def last_metric(client: MlflowClient, run_id: str, metric: str) -> tuple[int, float] | None:
    """(step, value) of a run's metric at its last step, or None if it never logged it."""
    point = last_point(client, run_id, metric)
    return None if point is None else (point[0], point[1])


def by_epoch(
    client: MlflowClient, run_id: str, metrics: Sequence[str]
) -> dict[int, dict[str, float]]:
    """A run's `metrics` at each step (epoch) they were logged at."""
    out: dict[int, dict[str, float]] = {}
    for metric in metrics:
        for point in client.get_metric_history(run_id, metric):
            out.setdefault(int(point.step), {})[metric] = float(point.value)
    return out


def last_point(client: MlflowClient, run_id: str, metric: str) -> tuple[int, float, int] | None:
    """(step, value, timestamp in ms) of a run's metric at its last step, or None."""
    history = client.get_metric_history(run_id, metric)
    if not history:
        return None
    last = max(history, key=lambda m: m.step)
    return int(last.step), float(last.value), int(last.timestamp)


def log_folder(
    client: MlflowClient, run_id: str, folder: Path, under: str, tags: dict[str, str] | None = None
) -> None:
    """Upload a folder's files as the run's artifacts under `under`, then set `tags`."""
    client.log_artifacts(run_id, str(folder), under)
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)


def log_points(
    client: MlflowClient, run_id: str, points: list[tuple[str, float, int, int]]
) -> None:
    """Metric points (name, value, timestamp in ms, step) in a run: written as they are given,
    so the same points written again are the same rows."""
    from mlflow.entities import Metric

    metrics = [Metric(name, value, ms, step) for name, value, ms, step in points]
    for start in range(0, len(metrics), 1000):  # MLflow's limit per log_batch
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
