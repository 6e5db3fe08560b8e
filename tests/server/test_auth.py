"""The shared tracking server, secured: authentication on the API and the UI, read-only users,
no secret on a command line or in a sweep's results folder."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from tests.server.conftest import ADMIN, DATABASE_PASSWORD

pytestmark = pytest.mark.e2e

VIEWER = ("viewer", "a viewer's pass/phrase")


def status_of(url: str, credentials: tuple[str, str] | None = None, host: str | None = None) -> int:
    request = urllib.request.Request(url)
    if host is not None:
        request.add_header("Host", host)
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def tunelab(*args: str, user: tuple[str, str] | None, cwd: Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_USER")}
    environment.pop("MLFLOW_TRACKING_PASSWORD", None)
    if user is not None:
        environment["MLFLOW_TRACKING_USERNAME"], environment["MLFLOW_TRACKING_PASSWORD"] = user
    return subprocess.run(
        [sys.executable, "-m", "tunelab.cli", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_without_credentials_the_api_and_the_ui_answer_401(server) -> None:
    api = f"{server['url']}/api/2.0/mlflow/experiments/search?max_results=1"
    assert status_of(api) == 401
    assert status_of(f"{server['url']}/") == 401
    assert status_of(api, ("admin", "a wrong password")) == 401
    assert status_of(api, ADMIN) == 200
    assert status_of(f"{server['url']}/", ADMIN) == 200
    # A name the server was not told it answers to (DNS rebinding) is refused, even the admin.
    assert status_of(api, ADMIN, host="tracking.attacker.example") in (400, 403)


def test_a_command_without_credentials_is_one_line_and_exit_2(server, tmp_path: Path) -> None:
    result = tunelab("sweeps", "--tracking-uri", server["url"], user=None, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("tunelab: error: ") and "MLFLOW_TRACKING_USERNAME" in line


def test_a_read_only_user_browses_but_cannot_promote(server, server_sweep, tmp_path: Path) -> None:
    from mlflow import MlflowClient
    from mlflow.server import get_app_client

    get_app_client("basic-auth", tracking_uri=server["url"]).create_user(*VIEWER)
    client = MlflowClient(server["url"])  # the admin
    promote = ["promote", "server-sweep", "--model-name", "auth-model", "--tracking-uri",
               server["url"], "--force", "--reason", "test"]  # fmt: skip
    try:
        first = tunelab(*promote, user=ADMIN, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        champion = client.get_model_version_by_alias("auth-model", "champion").version

        listing = tunelab("sweeps", "--tracking-uri", server["url"], user=VIEWER, cwd=tmp_path)
        assert listing.returncode == 0, listing.stderr
        assert "server-sweep" in listing.stdout
        # Reading a model is browsing: its files come from S3 through the server, verified.
        examples = tmp_path / "x.csv"
        examples.write_text("\n".join(",".join(["0.5"] * 13) for _ in range(3)) + "\n")
        predicted = tunelab(
            "predict", "models:/auth-model@champion", str(examples), "--tracking-uri",
            server["url"], user=VIEWER, cwd=tmp_path,
        )  # fmt: skip
        assert predicted.returncode == 0, predicted.stderr
        assert len(predicted.stdout.splitlines()) == 4  # a header and one row per example

        refused = tunelab(*promote, user=VIEWER, cwd=tmp_path)
        assert refused.returncode == 2
        # Its progress line ("evaluating ..."), then one line of error, no traceback.
        *_, line = refused.stderr.splitlines()
        assert line.startswith("tunelab: error: permission denied"), refused.stderr
        assert "Traceback" not in refused.stderr
        assert client.get_model_version_by_alias("auth-model", "champion").version == champion
        assert len(client.search_model_versions("name = 'auth-model'")) == 1
    finally:
        client.delete_registered_model("auth-model")


def test_no_secret_is_on_the_server_processes_command_lines(server) -> None:
    import psutil

    server_process = psutil.Process(int(server["pid"]))
    processes = [server_process, *server_process.children(recursive=True)]
    assert len(processes) >= 2  # tunelab became `mlflow server`, which runs its workers
    for process in processes:
        command_line = " ".join(process.cmdline())
        for secret in (DATABASE_PASSWORD, quote(DATABASE_PASSWORD, safe=""), ADMIN[1]):
            assert secret not in command_line


def test_the_results_folder_holds_no_database_password(server_sweep) -> None:
    """The sweep's results folder is shared storage on a cluster; Ray pickles the searcher
    (whose Optuna storage knows the database) into it."""
    files = [p for p in (server_sweep["folder"] / "results").rglob("*") if p.is_file()]
    assert any(p.suffix == ".pkl" for p in files)  # what Ray pickled is among them
    for path in files:
        content = path.read_bytes()
        assert DATABASE_PASSWORD.encode() not in content, path
        assert quote(DATABASE_PASSWORD, safe="").encode() not in content, path


def test_a_user_whose_password_mlflow_refuses_is_one_line_and_exit_2(
    postgres: str, tmp_path: Path
) -> None:
    """Set up before the server starts, a `--user-from` that MLflow would refuse stops it with
    one line, not a traceback from a worker."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "username").write_text("shorty")
    (user / "password").write_text("too short")
    (tmp_path / "admin").write_text(ADMIN[1])  # the session's admin: it may be created here
    result = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "server", "--admin-password-file",
         str(tmp_path / "admin"), "--user-from", str(user), "--port", "9"],
        env={**os.environ, "TUNELAB_DATABASE_URI": postgres}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("tunelab: error: cannot set up the database postgresql://tunelab@")
    assert line.endswith("Password must be at least 12 characters.")
    assert DATABASE_PASSWORD not in line
