"""Each cluster test gets a Ray cluster of its own (see localcluster.py)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from localcluster import Cluster, free_port


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of this test's own: its address, a token of its own, and a temp dir under
    /tmp short enough for Ray's socket paths."""
    port = free_port()
    folder = Path("/tmp") / f"tunelab-ray-{port}"
    folder.mkdir()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    made = Cluster(f"127.0.0.1:{port}", env, folder)
    try:
        yield made
    finally:
        made.stop()
        for log in folder.glob("node*.log"):
            shutil.copy(log, tmp_path / log.name)  # kept with the test's files
        shutil.rmtree(folder, ignore_errors=True)
