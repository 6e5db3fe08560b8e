"""A real two-node Ray cluster on localhost: `ray start --head`, then a second `ray start
--address`, as separate processes. The sweep joins it with --address and places trials on both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.cluster


def test_sweep_places_trials_on_both_nodes(cluster: Any, tmp_path: Path, repo: Path) -> None:
    cluster.add_node("--num-cpus=1", head=True)
    cluster.add_node("--num-cpus=1")
    address, env = cluster.address, cluster.env
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunelab.cli",
            "sweep",
            str(repo / "search_spaces/mlp_digits.yaml"),
            "--address",
            address,
            "--trials",
            "4",
            "--max-epochs",
            "3",
            "--concurrency",
            "2",
            "--name",
            "two-nodes",
            "--tracking-uri",
            uri,
            "--results-dir",
            str(tmp_path / "results"),
            "--json",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert sum(summary["trials"].values()) == 4

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tunelab")
    children = client.search_runs(
        [experiment.experiment_id],
        "tags.`tunelab.role` = 'trial' and tags.`tunelab.sweep` = 'two-nodes'",
    )
    assert len(children) == 4
    assert len({c.data.tags["tunelab.node"] for c in children}) == 2

    # The cluster runs with token authentication: a driver without its token, or with another,
    # is refused before anything runs, and records nothing.
    for name, without in [("no-token", {}), ("other-token", {"RAY_AUTH_TOKEN": "0" * 32})]:
        stranger = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
        stranger |= {"HOME": str(tmp_path), **without}  # no ~/.ray/auth_token to fall back on
        refused = subprocess.run(
            [sys.executable, "-m", "tunelab.cli", "sweep",
             str(repo / "search_spaces/mlp_digits.yaml"), "--address", address, "--trials", "1",
             "--max-epochs", "1", "--name", name, "--tracking-uri", uri,
             "--results-dir", str(tmp_path / "results")],
            env=stranger, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert refused.returncode == 2, refused.stderr[-3000:]
        # Ray's client logs each try it makes ("InvalidAuthToken"); tunelab's last line says why.
        assert "InvalidAuthToken" in refused.stderr
        *_, line = refused.stderr.strip().splitlines()
        assert line.startswith("tunelab: error: cannot join the Ray cluster"), line
        assert "RAY_AUTH_TOKEN" in line
        assert not client.search_runs(
            [experiment.experiment_id], f"tags.`tunelab.sweep` = '{name}'"
        )
