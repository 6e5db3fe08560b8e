from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Reference models (the GAN's scorer, `reference:` transfer sources) are trained into a
    folder of this session's, not the user's cache."""
    folder = tmp_path_factory.mktemp("tunelab-cache")
    before = os.environ.get("TUNELAB_CACHE_DIR")
    os.environ["TUNELAB_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("TUNELAB_CACHE_DIR", None)
    else:
        os.environ["TUNELAB_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One in-process Ray for every end-to-end sweep in this session; sweeps reuse it."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
