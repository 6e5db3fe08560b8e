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
         "--seeds", "1", "--trials", "2", "--max-epochs", "2", "--warm-start-specs", "mlp_wine"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TUNELAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seed = result["specs"]["mlp_wine"]["seeds"][0]
    # Random search with FIFO trains every epoch of every trial; tunelab is capped at as many
    # epochs in all (a trial running at the cap finishes its epoch, which is not counted).
    assert seed["random_epochs"] == 4
    assert 4 <= seed["tunelab_epochs_trained"] <= 5 and seed["tunelab_epochs"] == 4
    assert seed["tunelab_trials"] >= 2
    assert seed["equal_compute"] == 4  # epochs, the default measure of compute
    assert 0 <= seed["tunelab_best"] <= 1 and 0 <= seed["random_best"] <= 1
    assert seed["tunelab_at_least_random"] == (seed["tunelab_best"] >= seed["random_best"])
    warm = result["warm_start"]["mlp_wine"]["seeds"][0]
    assert 0 <= warm["earlier_best"] <= 1
    for key in ("warm_epochs", "cold_epochs"):  # null: never reached within the budget
        assert warm[key] is None or 1 <= warm[key] <= 5


def test_generalise_benchmark_runs_a_generated_task_in_reproducible_mode(
    repo: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(repo / "benchmarks/generalise.py"), "--set", "validation",
         "--families", "tabular_regression", "--instances", "1", "--seeds", "1",
         "--trials", "2", "--max-epochs", "2", "--out", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TUNELAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["set"] == "validation" and list(result["tasks"]) == ["tabular_regression-100"]
    assert result["tunelab_override"]["searcher"] == {"reproducible": True}
    seed = result["tasks"]["tabular_regression-100"]["seeds"][0]
    for unit in ("epochs", "cpu"):  # compute counted both ways from the same two sweeps
        assert seed[unit]["random_epochs"] == 4
        assert seed[unit]["tunelab_at_least_random"] == (
            seed[unit]["tunelab_best"] <= seed[unit]["random_best"]  # val_mse: lower is better
        )
    assert result["pooled"]["epochs"]["runs"] == 1


def test_multi_objective_benchmark_compares_four_searches_by_hypervolume(
    repo: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(repo / "benchmarks/multi_objective.py"), "--specs", "mlp_digits_size",
         "--seeds", "1", "--trials", "2", "--max-epochs", "1", "--constraint-specs", "",
         "--out", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seed = json.loads((tmp_path / "out.json").read_text())["pareto"]["mlp_digits_size"]["seeds"][0]
    for method in ("fifo", "mo-asha", "nsga2", "tpe"):
        assert seed[method]["epochs"] == 2  # every method's points, capped at fifo's compute
        assert 0 < seed[method]["final_hypervolume"] <= 1 * seed["reference"][1]
    assert seed["fifo"]["epochs_ratio"] <= 1  # fifo reaches its own final hypervolume
