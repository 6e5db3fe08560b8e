"""A real two-node Ray cluster on localhost: `ray start --head`, then a second `ray start
--address`, as separate processes. The sweep joins it with --address and places trials on both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.cluster
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive_nodes(address: str, env: dict[str, str]) -> int:
    code = (
        f"import ray; ray.init(address={address!r}, logging_level='ERROR');"
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    return (
        int(out.stdout.strip().splitlines()[-1])
        if out.returncode == 0 and out.stdout.strip()
        else 0
    )


@pytest.fixture
def two_node_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    common = ["--num-cpus=1", "--block", "--disable-usage-stats"]
    # Its own temp dir: nothing of this cluster outlives the test in /tmp/ray.
    temp_dir = Path("/tmp") / f"tunelab-ray-{port}"
    logs = [open(tmp_path / f"node{i}.log", "w") for i in range(2)]  # noqa: SIM115
    nodes = [
        subprocess.Popen(
            [
                RAY,
                "start",
                "--head",
                f"--port={port}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=false",
                f"--temp-dir={temp_dir}",
                *common,
            ],
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    try:
        deadline = time.monotonic() + 90
        while alive_nodes(address, env) < 1:
            assert time.monotonic() < deadline, (tmp_path / "node0.log").read_text()[-3000:]
            time.sleep(1)
        nodes.append(
            subprocess.Popen(
                [RAY, "start", f"--address={address}", "--node-ip-address=127.0.0.1", *common],
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        while alive_nodes(address, env) < 2:
            assert time.monotonic() < deadline, (tmp_path / "node1.log").read_text()[-3000:]
            time.sleep(1)
        yield address, env
    finally:
        for node in reversed(nodes):  # each node is its own process group: this cluster only
            with __import__("contextlib").suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
        for log in logs:
            log.close()
        __import__("shutil").rmtree(temp_dir, ignore_errors=True)


def test_sweep_places_trials_on_both_nodes(two_node_cluster, tmp_path: Path, repo: Path) -> None:
    address, env = two_node_cluster
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
