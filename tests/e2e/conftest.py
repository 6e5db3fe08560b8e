from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlruns) lands here
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "results_dir": str(tmp_path / "results"),
    }
    # A sweep must not leave its store in the process environment for whatever runs next.
    assert os.environ.get("MLFLOW_TRACKING_URI") == before
