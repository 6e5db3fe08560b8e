from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One in-process Ray for every end-to-end sweep in this session; sweeps reuse it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    return {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "results_dir": str(tmp_path / "results"),
    }
