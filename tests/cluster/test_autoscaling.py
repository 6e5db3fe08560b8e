"""A sweep on an autoscaling Ray cluster: a head with no CPU for trials and a worker type from 0
nodes, on Ray's own fake multi-node provider (it launches real raylets on this machine). The
preflight counts what the autoscaler can add, the sweep scales the cluster up and finishes, and
the workers go away once idle; a trial no node type can hold is refused in one line naming the
largest type."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from localcluster import Cluster, live_nodes
from mlflow import MlflowClient

from tunelab.tracking.tags import TAG_NODE

pytestmark = pytest.mark.cluster

WORKER_TYPE = "ray.worker.cpu"


def autoscaling_config(gcs_port: int) -> dict[str, object]:
    """Ray's fake multi-node provider, as its example config has it: a 0-CPU head, and up to
    two 1-CPU workers that leave after 6 idle seconds."""
    return {
        "cluster_name": f"tunelab-fake-{gcs_port}",
        "max_workers": 2,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": f"127.0.0.1:{gcs_port}",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "max_workers": 0, "node_config": {}},
            WORKER_TYPE: {
                "resources": {"CPU": 1},
                "min_workers": 0,
                "max_workers": 2,
                "node_config": {},
            },
        },
        "head_node_type": "ray.head.default",
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 0.1,
        "auth": {"ssh_user": "tunelab"},
        "docker": {},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


@pytest.fixture
def autoscaling(cluster: Cluster) -> Iterator[Cluster]:
    """The test's cluster with only its head up: 0 CPUs, the autoscaler watching it."""
    port = int(cluster.address.rsplit(":", 1)[1])
    config = cluster.folder / "autoscaling.yaml"
    config.write_text(yaml.safe_dump(autoscaling_config(port)))
    cluster.env["RAY_FAKE_CLUSTER"] = "1"
    cluster.add_node("--num-cpus=0", f"--autoscaling-config={config}", head=True)
    yield cluster
    # The fake provider's raylets are the head's children, in sessions of their own.
    for line in subprocess.run(
        ["ps", "-eo", "pid=,args="], capture_output=True, text=True
    ).stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if str(cluster.folder) in args and int(pid) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def sweep(
    cluster: Cluster, folder: Path, spec: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    (folder / "spec.yaml").write_text(spec)
    return subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml", "--address", cluster.address,
         "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}", "--results-dir",
         str(folder / "results"), "--json", *flags],
        env=cluster.env, cwd=folder, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {trials: 2, max_epochs: 2}
scheduler: fifo
resources: {cpu: 1}
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
"""


def test_a_sweep_scales_a_cluster_up_from_no_worker_and_the_workers_leave_idle(
    autoscaling: Cluster, tmp_path: Path
) -> None:
    assert [
        n["resources"].get("CPU", 0) for n in live_nodes(autoscaling.address, autoscaling.env)
    ] == [0]
    result = sweep(autoscaling, tmp_path, SPEC, "--name", "scaled")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == 2, summary
    # Each trial ran on a worker the autoscaler launched for it (the head holds no CPU).
    head = next(n["id"] for n in live_nodes(autoscaling.address, autoscaling.env)
                if not n["resources"].get("CPU"))  # fmt: skip
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name("tunelab").experiment_id],
        "tags.`tunelab.role` = 'trial' and tags.`tunelab.sweep` = 'scaled'",
    )
    assert len(runs) == 2 and all(r.data.tags[TAG_NODE] not in ("", head) for r in runs)
    deadline = time.monotonic() + 120
    while len(live_nodes(autoscaling.address, autoscaling.env)) > 1:
        assert time.monotonic() < deadline, "the idle workers did not leave in 120 s"
        time.sleep(2)


def test_a_trial_no_node_type_can_hold_is_refused_naming_the_largest(
    autoscaling: Cluster, tmp_path: Path
) -> None:
    result = sweep(autoscaling, tmp_path, SPEC.replace("{cpu: 1}", "{cpu: 2}"))
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert "no node, live or launchable, can hold one trial (2 CPU, 0 GPU per worker)" in line
    assert f"the largest node type the autoscaler can add, {WORKER_TYPE}, has 1 CPU" in line
