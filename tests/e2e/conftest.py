from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One in-process Ray for every end-to-end sweep in this session; sweeps reuse it."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


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
