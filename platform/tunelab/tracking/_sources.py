"""A model to start from, found by reference: `models:/NAME@ALIAS` or `models:/NAME/VERSION` in
the registry, a run (`runs:/RUN_ID` or the bare id) that logged a model, or a checkpoint file or
folder. The driver resolves it once and hands the weights to trials, which need no tracking."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tunelab.errors import SourceError
from tunelab.tracking._lookup import RUN_ID
from tunelab.training import CHECKPOINT_FILE


def is_stored(ref: str) -> bool:
    """Whether `ref` names a model in the tracking store (not a file of the user's)."""
    return ref.startswith(("models:/", "runs:/")) or bool(RUN_ID.match(ref))


def fetch_checkpoint(ref: str, tracking_uri: str | None, into: Path) -> Path:
    """The checkpoint file `ref` names: a model in the store, downloaded under `into` and
    refused unless its files are the ones recorded when it was logged; or a checkpoint file or
    folder of the user's."""
    if is_stored(ref):
        from tunelab.tracking._integrity import verified_checkpoint
        from tunelab.tracking._lookup import client

        return verified_checkpoint(client(tracking_uri), ref, into)
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
