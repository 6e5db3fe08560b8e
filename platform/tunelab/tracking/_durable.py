"""Writer calls that can wait on disk for the tracking store: each describes itself as data
(`record()`), and `durable_write(record)` does the same work again, in this process or in a
later one (`tunelab resume`) that replays the spool. Kinds: `text` (the spec), `summary` (the
sweep's summary), `model` (a trial's model, from its checkpoint and the model folder prepared
in the sweep's folder) and `folder` (files drawn into the sweep's folder, such as the views)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

WriteFn = Callable[["MlflowClient", Mapping[str, str]], None]


class Durable:
    """A writer call made of data: calling it does what `durable_write` does with its record."""

    def __init__(self, kind: str, **data: Any) -> None:
        self.kind, self.data = kind, data

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.data}

    def __call__(self, client: MlflowClient, run_ids: Mapping[str, str]) -> None:
        durable_write(self.record())(client, run_ids)


def durable_write(record: Mapping[str, Any]) -> WriteFn:
    """The work a record describes, as a writer call."""
    kind = record["kind"]

    def write(client: MlflowClient, run_ids: Mapping[str, str]) -> None:
        if kind == "text":
            client.log_text(run_ids[record["key"]], record["text"], record["artifact"])
        elif kind == "summary":
            from tunelab.tracking._summary import write_summary

            write_summary(client, run_ids, **record["args"])
        elif kind == "model":
            log_model(
                client, run_ids[record["key"]], Path(record["template"]), record["checkpoint"]
            )
        elif kind == "folder":
            client.log_artifacts(record["run_id"], record["folder"], record["under"])
        else:
            raise ValueError(f"unknown kind of kept write: {kind!r}")

    return write


def log_model(client: MlflowClient, run_id: str, template: Path, checkpoint: str | Path) -> None:
    """Log the prepared model folder `template` in the run, with this checkpoint's weights."""
    from tunelab.tracking._artifacts import MODEL_ARTIFACT
    from tunelab.tracking._integrity import folder_digest
    from tunelab.tracking.tags import TAG_MODEL_SHA256
    from tunelab.training import CHECKPOINT_FILE

    source = Path(checkpoint)
    if source.is_dir():
        source = source / CHECKPOINT_FILE
    weights = list(template.rglob(CHECKPOINT_FILE))
    if len(weights) != 1:
        raise RuntimeError(
            f"expected one {CHECKPOINT_FILE} in the model folder, found {len(weights)}"
        )
    shutil.copyfile(source, weights[0])
    digest = folder_digest(template)
    client.log_artifacts(run_id, str(template), MODEL_ARTIFACT)
    # After the upload: a run with the tag has all of its model's files.
    client.set_tag(run_id, TAG_MODEL_SHA256, digest)
