"""One process at a time creates a SQLite store's tables: two sweeps started at once in one
folder would otherwise both run MLflow's migrations on the new file and break it."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def creating(tracking_uri: str | None) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite store (its path plus `.lock`) while the block
    opens it; any other store, no lock."""
    path = sqlite_path(tracking_uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sqlite_path(tracking_uri: str | None) -> Path | None:
    """The file of a `sqlite:///` store (MLflow's default when no URI is given), else None."""
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).resolve()
