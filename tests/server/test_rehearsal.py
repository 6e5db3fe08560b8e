"""deploy/kubernetes rehearsed from its own rendered manifests, in deploy/README.md's order: the
Secrets its commands create (test values), the database, the tracking server's Deployment run
as the process its container would be, the RayCluster's head and one trainer started from their
`rayStartParams` as KubeRay's operator turns them into `ray start`, and the RayJob's entrypoint
submitted to that cluster.

What cannot run here is replaced, and only that: cluster DNS (a Service's name and port is this
machine's port serving it), the volumes (a folder each, a Secret's keys as files in it), the
image (its /opt/tunelab is this checkout) and the ports a pod has to itself (each a free one,
every address loopback). The sweep runs with `--trials 2 --max-epochs 1` added, to take a minute."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cluster.localcluster import live_nodes
from tests.deploy.conftest import DEPLOY, REPO, one, overlay, secret_commands
from tests.server.conftest import DATABASE_PASSWORD, S3_KEY, free_port, wait_until_up

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

NAMESPACE = "tunelab"
BIN = Path(sys.executable).parent
SMOKE = ["--trials", "2", "--max-epochs", "1"]
IMAGE_ROOT = "/opt/tunelab"  # deploy/docker/Dockerfile's copy of the checkout


def secret_values(s3: dict[str, str]) -> dict[str, dict[str, str]]:
    """A value for every key of every Secret the README's commands create."""
    return {
        "tunelab-database": {"password": DATABASE_PASSWORD},
        "tunelab-admin": {"password": "admin's " + secrets.token_urlsafe(12)},
        "tunelab-tracking": {"flask-secret-key": secrets.token_hex(32)},
        "tunelab-ray-token": {"auth_token": secrets.token_hex(32)},
        "tunelab-s3": {
            "access-key-id": S3_KEY[0],
            "secret-access-key": S3_KEY[1],
            "endpoint-url": s3["endpoint"],
        },
        "tunelab-sweeper": {"username": "sweeper", "password": secrets.token_urlsafe(18)},
        "tunelab-prometheus": {"username": "prometheus", "password": secrets.token_urlsafe(18)},
        # A password with a quote: it reaches PostgreSQL as a literal in CREATE ROLE.
        "tunelab-optuna": {
            "username": "tunelab_optuna",
            "password": "o'pt/" + secrets.token_hex(8),
        },
    }


class Pod:
    """What a container of a rendered pod template would see: its environment with every
    reference filled, its volumes as folders, and its command line with paths, addresses
    and ports made this machine's."""

    def __init__(
        self,
        template: dict[str, Any],
        secrets_: dict[str, dict[str, str]],
        services: dict[str, str],
        folder: Path,
        fields: dict[str, str] | None = None,
    ) -> None:
        self.spec = template["spec"]
        [self.container] = self.spec["containers"]
        self.secrets, self.services, self.fields = secrets_, services, fields or {}
        self.paths = {IMAGE_ROOT: str(REPO)}
        for mount in self.container.get("volumeMounts", []):
            [volume] = [v for v in self.spec["volumes"] if v["name"] == mount["name"]]
            local = folder / "volumes" / mount["name"]
            if "secret" in volume:
                local.mkdir(parents=True, exist_ok=True)
                for key, value in self.secret(volume["secret"]["secretName"]).items():
                    (local / key).write_text(value)
            elif "persistentVolumeClaim" in volume:  # one folder per claim, shared by pods
                local = folder.parent / "claims" / volume["persistentVolumeClaim"]["claimName"]
            local.mkdir(parents=True, exist_ok=True)
            self.paths[mount["mountPath"]] = str(local)

    def secret(self, name: str) -> dict[str, str]:
        assert name in self.secrets, f"the manifests use Secret {name}; the README creates none"
        return self.secrets[name]

    def local(self, text: str) -> str:
        """`text` with each Service address and mounted path made this machine's, at once."""
        table = {**self.services, **self.paths}
        pattern = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
        return re.sub(pattern, lambda m: table[m[0]], text)

    def environment(self) -> dict[str, str]:
        found = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ["HOME"]}
        for variable in self.container.get("env", []):
            source = variable.get("valueFrom", {})
            if "value" in variable:
                found[variable["name"]] = self.local(variable["value"])
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                values = self.secret(ref["name"])
                if ref["key"] in values:
                    found[variable["name"]] = values[ref["key"]]
                else:
                    assert ref.get("optional"), f"Secret {ref['name']} has no key {ref['key']}"
            elif "fieldRef" in source:
                found[variable["name"]] = self.fields[source["fieldRef"]["fieldPath"]]
            else:
                raise AssertionError(f"an env source the rehearsal does not know: {variable}")
        return found


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):  # each its own process group: these processes only
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)


def get(url: str, host: str, user: tuple[str, str] | None = None) -> int:
    """The status of a GET with `host` as its Host header, as a client in the cluster sends."""
    headers = {"Host": host}
    if user is not None:
        headers["Authorization"] = "Basic " + b64encode(":".join(user).encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def ray_start_flags(params: dict[str, str]) -> list[str]:
    """`rayStartParams` as KubeRay's operator passes them to `ray start`, with ports and
    addresses made this machine's."""
    flags = []
    for key, value in params.items():
        if key.endswith("-port"):
            value = str(free_port())
        elif key.endswith("-host"):
            value = "127.0.0.1"
        flags.append(f"--{key}={value}")
    return flags


def resource_flags(container: dict[str, Any], params: dict[str, str]) -> list[str]:
    """What KubeRay adds from the container's resources where rayStartParams leave it out."""
    resources = container.get("resources", {})
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    flags = []
    if "num-cpus" not in params and ("cpu" in limits or "cpu" in requests):
        flags.append(f"--num-cpus={limits.get('cpu', requests.get('cpu'))}")
    if "num-gpus" not in params and "nvidia.com/gpu" in limits:
        flags.append(f"--num-gpus={limits['nvidia.com/gpu']}")
    return flags


@pytest.fixture
def database(postgres: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this rehearsal's own in the test PostgreSQL, named as the manifests name
    theirs is not possible twice: `tunelab-postgres:5432/tunelab` is made to mean it."""
    import sqlalchemy

    name = f"rehearsal_{request.node.callspec.id}"
    engine = sqlalchemy.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name} OWNER tunelab"))
    engine.dispose()
    yield f"{postgres.rsplit('@', 1)[1].rsplit('/', 1)[0]}/{name}"


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_the_deployment_runs_a_sweep_as_its_manifests_say(
    name: str,
    database: str,
    s3: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlalchemy
    from mlflow import MlflowClient

    documents = overlay(name)
    readme = (DEPLOY / "README.md").read_text()

    # 1. The Secrets, as the README's commands create them.
    values = secret_values(s3)
    made = secret_commands(readme)
    assert {secret: set(keys) for secret, keys in values.items()} == made
    processes: list[subprocess.Popen[bytes]] = []
    ray_temp = ""
    try:
        # 2. The database: the StatefulSet's, as the Service names it.
        postgres = one(documents, "StatefulSet", "tunelab-postgres")
        env = {
            e["name"]: e.get("value")
            for e in postgres["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == ("tunelab", "tunelab")
        services = {"tunelab-postgres:5432/tunelab": database}

        # 3. The tracking server: each replica of the Deployment, started together on one
        # empty database (they set it up in turn), its Service the first replica's port.
        deployment = one(documents, "Deployment", "tunelab-tracking")
        ports = [free_port() for _ in range(deployment["spec"]["replicas"])]
        services["tunelab-tracking:5000"] = f"127.0.0.1:{ports[0]}"
        for index, port in enumerate(ports):
            pod = Pod(
                deployment["spec"]["template"], values, services, tmp_path / f"tracking{index}"
            )
            [program, *rest] = pod.container["command"]
            args = [pod.local(a) for a in (*rest, *pod.container["args"])]
            args = [
                "--host=127.0.0.1" if a.startswith("--host=") else
                f"--port={port}" if a.startswith("--port=") else a
                for a in args
            ]  # fmt: skip
            log = tmp_path / f"tracking{index}.log"
            processes.append(start([str(BIN / program), *args], pod.environment(), log))
        for index, port in enumerate(ports):
            wait_until_up(
                f"http://127.0.0.1:{port}", processes[index], tmp_path / f"tracking{index}.log"
            )
        url = f"http://127.0.0.1:{ports[0]}"

        # 4. The users: the sweeper is there from the server's start. Clients in the cluster
        # reach it by the Service's names: refused without credentials, never for the name.
        sweeper = (values["tunelab-sweeper"]["username"], values["tunelab-sweeper"]["password"])
        service = one(documents, "Service", "tunelab-tracking")
        port = service["spec"]["ports"][0]["port"]
        admin = ("admin", values["tunelab-admin"]["password"])
        # People reach it through the Ingress, which passes their Host on.
        outside = one(documents, "Ingress", "tunelab-tracking")["spec"]["rules"][0]["host"]
        names = (
            f"tunelab-tracking:{port}",
            f"tunelab-tracking.{NAMESPACE}.svc.cluster.local:{port}",
            outside,
        )
        paths = {  # MLflow's basic auth serves /metrics to admins (deploy/README.md: Prometheus)
            "/api/2.0/mlflow/experiments/search?max_results=1": sweeper,
            "/": sweeper,
            "/metrics": admin,
        }
        for host in names:
            for path, user in paths.items():
                assert (get(url + path, host), get(url + path, host, user)) == (401, 200), (
                    host,
                    path,
                )

        # 5. The cluster: the head and one trainer, as KubeRay starts them, with the token.
        raycluster = one(documents, "RayCluster", "tunelab")
        auth = raycluster["spec"]["authOptions"]
        token = {
            "RAY_AUTH_MODE": auth["mode"],
            "RAY_AUTH_TOKEN": values[auth["secretName"]]["auth_token"],
        }
        fields = {"metadata.labels['ray.io/cluster']": "tunelab", "metadata.namespace": NAMESPACE}
        head = raycluster["spec"]["headGroupSpec"]
        head_pod = Pod(head["template"], values, services, tmp_path / "head", fields)
        gcs, dashboard = free_port(), free_port()
        ray_temp = tempfile.mkdtemp(prefix="tl-ray-")  # short: Ray's socket paths are limited
        head_env = {**head_pod.environment(), **token}
        processes.append(
            start(
                [str(BIN / "ray"), "start", "--head", "--block", *ray_start_flags(head["rayStartParams"]),
                 *resource_flags(head_pod.container, head["rayStartParams"]),
                 f"--port={gcs}", f"--dashboard-port={dashboard}", "--include-dashboard=true",
                 f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
                 "--node-ip-address=127.0.0.1", f"--temp-dir={ray_temp}", "--disable-usage-stats"],
                head_env, tmp_path / "head.log",
            )
        )  # fmt: skip
        [trainers] = raycluster["spec"]["workerGroupSpecs"]
        worker_pod = Pod(trainers["template"], values, services, tmp_path / "worker", fields)
        address = f"127.0.0.1:{gcs}"
        deadline = time.monotonic() + 120
        while not live_nodes(address, {**os.environ, **token}):
            assert processes[-1].poll() is None, (tmp_path / "head.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the head did not start in 120 s"
            time.sleep(1)
        processes.append(
            start(
                [str(BIN / "ray"), "start", f"--address={address}", "--block",
                 *ray_start_flags(trainers["rayStartParams"]),
                 *resource_flags(worker_pod.container, trainers["rayStartParams"]),
                 f"--dashboard-agent-listen-port={free_port()}", "--node-ip-address=127.0.0.1",
                 "--disable-usage-stats"],
                {**worker_pod.environment(), **token}, tmp_path / "worker.log",
            )
        )  # fmt: skip
        while len(live_nodes(address, {**os.environ, **token})) < 2:
            assert processes[-1].poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the trainer did not join in 120 s"
            time.sleep(1)

        # 6. The job: the RayJob's entrypoint as written, submitted as KubeRay's submitter does.
        rayjob = one(documents, "RayJob", "tunelab-sweep")
        assert rayjob["spec"]["clusterSelector"] == {
            "ray.io/cluster": raycluster["metadata"]["name"]
        }
        entrypoint = head_pod.local(rayjob["spec"]["entrypoint"])
        submitted = subprocess.run(
            [str(BIN / "ray"), "job", "submit", f"--address=http://127.0.0.1:{dashboard}",
             f"--submission-id=rehearsal-{name}", "--", *shlex.split(entrypoint), *SMOKE],
            env={**os.environ, **token}, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout[-4000:] + submitted.stderr[-2000:]

        # The sweep finished, its runs in the server's store, and recorded by the sweeper,
        # who manages what it created.
        sweep = entrypoint.split("--name ", 1)[1].split()[0]
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", admin[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin[1])
        client = MlflowClient(url)
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, f"tags.`tunelab.sweep` = '{sweep}'")
        roles = sorted(r.data.tags["tunelab.role"] for r in runs)
        assert roles == ["sweep", "trial", "trial"], roles
        assert {r.info.status for r in runs} == {"FINISHED"}
        # The sweep's driver reached the database as the studies' role: it owns the study,
        # and cannot read MLflow's users (nor its runs).
        role = {"user": head_env["PGUSER"], "password": head_env["PGPASSWORD"]}
        engine = sqlalchemy.create_engine(head_env["TUNELAB_DATABASE_URI"], connect_args=role)
        with engine.connect() as connection:
            studies = connection.execute(sqlalchemy.text("SELECT study_name FROM optuna.studies"))
            assert sweep in set(studies.scalars())
        for table in ("mlflow_auth.users", "public.runs"):
            with (
                engine.connect() as connection,
                pytest.raises(sqlalchemy.exc.ProgrammingError, match="permission denied"),
            ):
                connection.execute(sqlalchemy.text(f"SELECT * FROM {table}"))
        engine.dispose()

        # Everyone else may only read (default_permission READ): the sweeper can edit them.
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", sweeper[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", sweeper[1])
        for run in runs:
            MlflowClient(url).set_tag(run.info.run_id, "rehearsed", name)
    finally:
        stop(processes)
        if ray_temp:
            shutil.rmtree(ray_temp, ignore_errors=True)
