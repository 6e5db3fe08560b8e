"""Writer calls that can wait on disk for the tracking store: each describes itself as data
(`record()`), and `durable_write(record)` does the same work again, in this process or in a
later one (`tunelab resume`) that replays the spool. Kinds: `text` (the spec), `summary` (the
sweep's summary), `model` (a trial's model, from its checkpoint and the model folder prepared
in the sweep's folder) and `folder` (files drawn into the sweep's folder, such as the views)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


# How each kind is written, given the client, the run ids by key and the record. `text` and
# `folder` are here; `summary` (_summary) and `model` (_artifacts) register themselves when the
# package loads, so this module imports none of the modules that make its records.
KindWrite = Callable[["MlflowClient", Mapping[str, str], Mapping[str, Any]], None]
KINDS: dict[str, KindWrite] = {}


def kind(name: str) -> Callable[[KindWrite], KindWrite]:
    """Register how records of kind `name` are written (a decorator)."""

    def register(write: KindWrite) -> KindWrite:
        KINDS[name] = write
        return write

    return register


def durable_write(record: Mapping[str, Any]) -> WriteFn:
    """The work a record describes, as a writer call."""
    write_kind = KINDS.get(record["kind"])
    if write_kind is None:
        raise ValueError(f"unknown kind of kept write: {record['kind']!r}")

    def write(client: MlflowClient, run_ids: Mapping[str, str]) -> None:
        write_kind(client, run_ids, record)

    return write


@kind("text")
def _write_text(
    client: MlflowClient, run_ids: Mapping[str, str], record: Mapping[str, Any]
) -> None:
    client.log_text(run_ids[record["key"]], record["text"], record["artifact"])


@kind("folder")
def _write_folder(
    client: MlflowClient, _run_ids: Mapping[str, str], record: Mapping[str, Any]
) -> None:
    client.log_artifacts(record["run_id"], record["folder"], record["under"])
