"""The command as a user runs it: exit codes, one-line errors, the --json contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUNELAB = [sys.executable, "-m", "tunelab.cli"]


def run(
    args: list[str], cwd: Path, timeout: float = 300, **kwargs
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TUNELAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def test_bad_spec_exits_2_with_one_line_and_starts_nothing(tmp_path: Path, repo: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        (repo / "search_spaces/mlp_digits.yaml").read_text().replace("low: 1.0e-4", "low: 0")
    )
    result = run(["sweep", "bad.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tunelab: error: bad.yaml:22: space.lr.low: must be > 0 when log is true, got 0"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no store, no results


def test_flag_override_error_names_the_flag(tmp_path: Path, repo: Path) -> None:
    result = run(
        ["sweep", str(repo / "search_spaces/mlp_digits.yaml"), "--concurrency", "0"], cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "tunelab: error: --concurrency: must be >= 1, got 0"


def test_missing_spec_file_is_one_line(tmp_path: Path) -> None:
    result = run(["sweep", "nope.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "tunelab: error: nope.yaml: cannot read spec: No such file or directory"
    )


def test_gpu_request_on_a_machine_without_one_is_refused_before_anything_starts(
    tmp_path: Path, repo: Path
) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    spec = tmp_path / "gpu.yaml"
    spec.write_text(
        (repo / "search_spaces/mlp_digits.yaml")
        .read_text()
        .replace("  cpu: 1", "  cpu: 1\n  gpu: 0.5")
    )
    line = spec.read_text().splitlines().index("  gpu: 0.5") + 1
    result = run(["sweep", "gpu.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"tunelab: error: gpu.yaml:{line}: resources.gpu: 0.5 GPU per trial requested, but there is no GPU"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu.yaml"]


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, tunelab.cli; tunelab.cli.build_parser().format_help(); "
        "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'optuna', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.e2e
def test_sweep_command_ends_with_the_json_contract(tmp_path: Path, repo: Path) -> None:
    result = run(
        [
            "sweep",
            str(repo / "search_spaces/mlp_digits.yaml"),
            "--trials",
            "2",
            "--max-epochs",
            "2",
            "--name",
            "cli-json",
            "--json",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {
        "sweep", "parent_run_id", "trials", "best", "wall_s", "budget_reached", "stuck"
    }  # fmt: skip
    assert summary["sweep"] == "cli-json" and summary["budget_reached"] is None
    assert summary["stuck"] is None  # its trials never waited out budget.pending_timeout_s
    assert summary["trials"]["completed"] == 2
    assert set(summary["best"]) == {"trial", "metric", "config", "run_id"}
    assert (tmp_path / "mlflow.db").exists()  # MLflow's own default store, in the working folder
    # The name is taken now: running again with it is refused without touching the first sweep.
    again = run(
        ["sweep", str(repo / "search_spaces/mlp_digits.yaml"), "--name", "cli-json"], cwd=tmp_path
    )
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(("stop", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_marks_running_trials_and_the_sweep_killed_and_keeps_what_finished(
    tmp_path: Path, repo: Path, stop: str, status: int
) -> None:
    """Ctrl-C, or SIGTERM (a preempted machine, `kill`): the same graceful stop."""
    import signal
    import time

    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen(
        [
            *TUNELAB,
            "sweep",
            str(repo / "search_spaces/cnn_digits.yaml"),
            "--trials",
            "6",
            "--max-epochs",
            "40",
            "--concurrency",
            "2",
            "--name",
            "interrupted",
            "--json",
            "--tracking-uri",
            uri,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = MlflowClient(uri)
    deadline = time.monotonic() + 180
    try:
        while True:  # wait until trials are mid-training: a child run with metrics logged
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no trial reported in time"
            experiment = (
                client.get_experiment_by_name("tunelab")
                if (tmp_path / "mlflow.db").exists()
                else None
            )
            if experiment is not None:
                runs = client.search_runs(
                    [experiment.experiment_id], "tags.`tunelab.role` = 'trial'"
                )
                if any(r.data.metrics for r in runs):
                    break
            time.sleep(0.5)
        process.send_signal(getattr(signal, stop))
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == status, stderr[-2000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    runs = client.search_runs([experiment.experiment_id], "tags.`tunelab.sweep` = 'interrupted'")
    parent = next(r for r in runs if r.data.tags["tunelab.role"] == "sweep")
    children = [r for r in runs if r.data.tags["tunelab.role"] == "trial"]
    assert parent.info.status == "KILLED"
    assert summary["trials"]["killed"] >= 1
    killed = [c for c in children if c.data.tags.get("tunelab.outcome") == "killed"]
    assert len(killed) == summary["trials"]["killed"]
    assert all(c.info.status == "KILLED" for c in killed)
    assert all(c.info.status != "RUNNING" for c in children)
    # What was recorded before the stop is still there.
    assert any(client.get_metric_history(c.info.run_id, "val_accuracy") for c in killed)


@pytest.mark.e2e
def test_a_sweep_serves_its_metrics_for_prometheus_on_the_metrics_port(
    tmp_path: Path, repo: Path
) -> None:
    """Prometheus's view of a running sweep, on --metrics-port: its 2 trials running, by name."""
    import signal
    import time
    import urllib.request

    from tests.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [*TUNELAB, "sweep", str(repo / "search_spaces/mlp_digits.yaml"), "--trials", "2",
         "--max-epochs", "2000", "--concurrency", "2", "--name", "watched", "--json",
         "--metrics-port", str(port)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # the sweep and the Ray it started, stopped together below
        env={**os.environ, "RAY_metrics_report_interval_ms": "1000"},  # Ray exports each second
    )  # fmt: skip
    deadline = time.monotonic() + 180
    try:
        while True:
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the sweep's metrics were not served in time"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    served = r.read().decode()
            except OSError:
                served = ""
            if any(
                line.startswith("ray_tunelab_trials{")
                and 'state="running"' in line
                and 'sweep="watched"' in line
                and line.endswith(" 2.0")
                for line in served.splitlines()
            ):
                break
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def test_list_shows_models_datasets_and_ready_specs(repo: Path) -> None:
    result = run(["list"], cwd=repo)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name in ("mlp", "cnn", "digits", "cnn_digits.yaml", "mlp_digits.yaml"):
        assert any(line.strip().startswith(name) for line in lines), name


def test_ui_serves_the_mlflow_ui_on_the_store(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen(
        [*TUNELAB, "ui", "--tracking-uri", uri, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the UI did not answer"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10",
                    timeout=5,
                ) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.5)
        assert [e["name"] for e in body["experiments"]] == ["Default"]
    finally:
        process.terminate()
        process.wait(timeout=30)
    # The link it prints opens the "Model training" view, not MLflow's GenAI home page.
    link = f"http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning"
    assert link in process.stderr.read()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep"], "give a SPEC file, or --extend SWEEP --trials N"),
        (["sweep", "--extend", "old"], "--extend needs --trials N"),
        (["sweep", "a.yaml", "--extend", "old", "--trials", "2"], "drop SPEC"),
        (["sweep", "--extend", "old", "--trials", "2", "--max-epochs", "3"], "drop --max-epochs"),
        (["sweep", "--extend", "old", "--trials", "2"], "no sweep named 'old'"),
        (["sweep", "a.yaml", "--check-against", "old"], "as it ran: drop SPEC"),
        (["sweep", "--check-against", "old", "--seed", "3"], "as it ran: drop --seed"),
        (["sweep", "--check-against", "old"], "no sweep named 'old'"),
    ],
)
def test_extend_refuses_what_it_cannot_do_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from tunelab.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main([*args, "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "args",
    [
        ["report", "some-sweep"],
        ["promote", "some-sweep", "--model-name", "m"],
        ["models", "m"],
        ["reproduce", "0" * 32],
    ],
    ids=["report", "promote", "models", "reproduce"],
)
@pytest.mark.parametrize("kind", ["unreachable", "malformed"])
def test_a_tracking_store_that_cannot_be_used_is_one_line_within_seconds(
    tmp_path: Path, args: list[str], kind: str
) -> None:
    uri = f"http://127.0.0.1:{free_port()}" if kind == "unreachable" else "foo://bar"
    # The timeout is the contract: an answer within 30 s, not minutes of retries.
    result = run([*args, "--tracking-uri", uri], cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"tunelab: error: cannot use the tracking store {uri}: ")


def test_a_malformed_server_port_variable_is_one_line(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "TUNELAB_SERVER_PORT": "abc"}
    result = run(["server", "--database-uri", "postgresql://u:p@127.0.0.1:1/db"], tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tunelab: error: $TUNELAB_SERVER_PORT must be an integer, got 'abc'"
    ]
