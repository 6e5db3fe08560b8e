"""A logged model's integrity: one SHA-256 over every file of its folder (the weights, `MLmodel`,
the pyfunc code MLflow runs to serve it, its requirements), recorded on the trial's run when the
sweep logs the model and copied to the registered version when it is promoted. Every command
that loads a model from the store, and `tunelab serve`, checks it first: a model whose digest is
missing or differs is refused by name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tunelab import env
from tunelab.errors import NotFoundError, SourceError, UnsafeModelError, first_line_of
from tunelab.tracking._lookup import MODEL_URI, RUN_ID, model_version
from tunelab.tracking.tags import MODEL_ARTIFACT, TAG_MODEL_SHA256

if TYPE_CHECKING:
    from mlflow import MlflowClient


def folder_digest(folder: Path) -> str:
    """SHA-256 over each file's path (relative, sorted) and content. An added, removed, renamed
    or edited file changes it; nothing else (times, permissions) does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        if path.is_symlink():
            raise UnsafeModelError(f"{path}: a model folder holds no links")
        content = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content.update(block)
        digest.update(f"{path.relative_to(folder).as_posix()}\0{content.hexdigest()}\n".encode())
    return digest.hexdigest()


def model_uri(ref: str) -> str:
    """`ref` as an MLflow URI of a model folder: `models:/...` as it is, `runs:/RUN_ID` and a
    bare run id as the run's logged model."""
    if ref.startswith("models:/"):
        return ref
    if RUN_ID.match(ref):
        return f"runs:/{ref}/{MODEL_ARTIFACT}"
    if ref.startswith("runs:/") and ref.count("/") == 1:
        return f"{ref}/{MODEL_ARTIFACT}"
    return ref


def _resolve(client: MlflowClient, uri: str) -> tuple[str, str | None]:
    """Where a model's files are downloaded from, and the digest recorded for them: a registered
    version's are its source run's (MLflow would add a file of its own to a `models:/`
    download), checked against the digest kept on the version."""
    if uri.startswith("models:/"):
        version = model_version(client, uri)
        source = str(version.source or "")
        if not source.startswith("runs:/"):
            source = uri
        return source, version.tags.get(TAG_MODEL_SHA256)
    run_id = uri.removeprefix("runs:/").split("/", 1)[0]
    return uri, client.get_run(run_id).data.tags.get(TAG_MODEL_SHA256)


@dataclass(frozen=True)
class VerifiedModel:
    """A model folder downloaded from the store whose files hash to the recorded `digest`."""

    ref: str
    folder: Path
    digest: str

    @property
    def checkpoint(self) -> Path:
        from tunelab.training import CHECKPOINT_FILE

        found = sorted(self.folder.rglob(CHECKPOINT_FILE))
        if not found:
            raise SourceError(f"{self.ref} holds no {CHECKPOINT_FILE}: not a tunelab model")
        return found[0]


def fetch_verified_model(client: MlflowClient, ref: str, into: Path) -> VerifiedModel:
    """The model folder `ref` names (`models:/NAME@ALIAS`, `models:/NAME/VERSION`,
    `runs:/RUN_ID[/model]` or a run id), downloaded under `into`, refused unless its files are
    the ones recorded when it was logged."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    uri = model_uri(ref)
    if not (MODEL_URI.match(uri) or uri.startswith("runs:/")):
        raise SourceError(f"{ref}: expected models:/NAME@ALIAS, models:/NAME/VERSION or a run id")
    env.apply_library_defaults("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    try:
        source, expected = _resolve(client, uri)
        folder = Path(
            download_artifacts(
                artifact_uri=source, dst_path=str(into), tracking_uri=client.tracking_uri
            )
        )
    except (MlflowException, NotFoundError) as exc:
        raise SourceError(f"cannot fetch the model {ref}: {first_line_of(exc)}") from None
    except OSError as exc:
        raise SourceError(f"cannot fetch the model {ref}: {exc}") from None
    if expected is None:
        raise UnsafeModelError(
            f"refusing to load {ref}: no digest of its files was recorded "
            f"({TAG_MODEL_SHA256}); promote it again from its sweep to record one"
        )
    if not folder.is_dir() or folder_digest(folder) != expected:
        raise UnsafeModelError(
            f"refusing to load {ref}: its files are not the ones recorded when it was logged "
            "(the SHA-256 of the model folder differs: the artifact was changed)"
        )
    return VerifiedModel(ref, folder, expected)


def verified_checkpoint(client: MlflowClient, ref: str, into: Path) -> Path:
    """The checkpoint file of the model `ref` names, once its folder is verified."""
    return fetch_verified_model(client, ref, into).checkpoint
