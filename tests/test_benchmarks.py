"""The search benchmark's code, run at a tiny budget (a smoke test, not of its figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_search_benchmark_compares_tunelab_with_random_search(repo: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(repo / "benchmarks/search.py"), "--specs", "mlp_wine",
         "--seeds", "1", "--trials", "2", "--max-epochs", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TUNELAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seed = result["specs"]["mlp_wine"]["seeds"][0]
    # Random search with FIFO trains every epoch of every trial.
    assert seed["random_epochs"] == 4 and 2 <= seed["tunelab_epochs"] <= 4
    assert seed["equal_compute_epochs"] == min(seed["tunelab_epochs"], seed["random_epochs"])
    assert 0 <= seed["tunelab_best"] <= 1 and 0 <= seed["random_best"] <= 1
    assert seed["tunelab_at_least_random"] == (seed["tunelab_best"] >= seed["random_best"])
