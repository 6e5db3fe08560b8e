"""A model to start from, found by reference: `models:/NAME@ALIAS` or `models:/NAME/VERSION` in
the registry, a run (`runs:/RUN_ID` or the bare id) that logged a model, or a checkpoint file or
folder. The driver resolves it once and hands the weights to trials, which need no tracking."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from tunelab import env
from tunelab.errors import SourceError, first_line_of
from tunelab.training import CHECKPOINT_FILE

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def fetch_checkpoint(ref: str, tracking_uri: str | None, into: Path) -> Path:
    """The checkpoint file `ref` names, downloaded under `into` when it lives in MLflow."""
    if ref.startswith("models:/") or ref.startswith("runs:/") or RUN_ID.match(ref):
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException

        env.apply_library_defaults("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")

        uri = ref if ":/" in ref else f"runs:/{ref}/model"
        if uri.startswith("runs:/") and uri.count("/") == 1:
            uri += "/model"
        try:
            folder = Path(
                download_artifacts(artifact_uri=uri, dst_path=str(into), tracking_uri=tracking_uri)
            )
        except (MlflowException, OSError) as exc:
            raise SourceError(f"cannot fetch the model {ref}: {first_line_of(exc)}") from None
        found = [folder] if folder.is_file() else sorted(folder.rglob(CHECKPOINT_FILE))
        if not found:
            raise SourceError(f"{ref} holds no {CHECKPOINT_FILE}: not a tunelab model")
        return found[0]
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise SourceError(
            f"{ref}: no such checkpoint; give models:/NAME@ALIAS, a run id, or a checkpoint path"
        )
    return path


def load_source(ref: str, tracking_uri: str | None) -> dict[str, object]:
    """The source model as architecture, hyperparameters, data shape and weights."""
    from tunelab.training import load_checkpoint

    with tempfile.TemporaryDirectory(prefix="tunelab-source-") as folder:
        path = fetch_checkpoint(ref, tracking_uri, Path(folder))
        try:
            state = load_checkpoint(path)
        except Exception as exc:
            raise SourceError(f"{ref}: not a readable tunelab checkpoint: {exc}") from None
    missing = {"architecture", "model_hparams", "data_info", "model_state"} - set(state)
    if missing:
        raise SourceError(f"{ref}: the checkpoint lacks {', '.join(sorted(missing))}")
    return {k: state[k] for k in ("architecture", "model_hparams", "data_info", "model_state")}
