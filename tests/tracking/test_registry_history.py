"""A registered model's history is append-only even when two promotions write it at once: every
entry is kept, each writer's in its order (a count read, then written, would lose one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from tunelab import tracking

WRITER = """
import sys
from mlflow import MlflowClient
from tunelab import tracking
client = MlflowClient(sys.argv[1], registry_uri=sys.argv[1])
for i in range(10):
    tracking.append_event(client, "raced", {"writer": sys.argv[2], "i": i})
"""


def test_two_writers_at_once_keep_every_entry_in_each_ones_order(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri, registry_uri=uri).create_registered_model("raced")
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, uri, name], stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()[-2000:]
    events = tracking.history(MlflowClient(uri, registry_uri=uri), "raced")
    assert len(events) == 20
    for name in ("a", "b"):
        assert [e["i"] for e in events if e["writer"] == name] == list(range(10))
