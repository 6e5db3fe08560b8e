"""A real multi-node Ray cluster on localhost: `ray start --head`, then `ray start --address`
per worker node, each node its own process group so a test can kill exactly one machine."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_nodes(address: str, env: dict[str, str]) -> list[dict[str, object]]:
    """The cluster's live nodes as Ray lists them (asked from a separate driver)."""
    code = (
        "import json, ray\n"
        f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
        "print(json.dumps([{'id': n['NodeID'], 'resources': n['Resources']}"
        " for n in ray.nodes() if n['Alive']]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0 or not out.stdout.strip():
        return []
    import json

    nodes: list[dict[str, object]] = json.loads(out.stdout.strip().splitlines()[-1])
    return nodes


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def add_node(self, *args: str, head: bool = False) -> subprocess.Popen[bytes]:
        """Start a node and wait until the cluster counts it."""
        before = len(live_nodes(self.address, self.env)) if self.processes else 0
        log = open(self.folder / f"node{len(self.processes)}.log", "w")  # noqa: SIM115
        where = (
            [f"--port={self.address.rsplit(':', 1)[1]}", "--head", "--include-dashboard=false",
             f"--temp-dir={self.folder / 'ray'}"]
            if head
            else [f"--address={self.address}"]
        )  # fmt: skip
        process = subprocess.Popen(
            [RAY, "start", *where, "--node-ip-address=127.0.0.1", "--block",
             "--disable-usage-stats", *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        deadline = time.monotonic() + 90
        while len(live_nodes(self.address, self.env)) < before + 1:
            assert process.poll() is None, self.folder / f"node{len(self.processes) - 1}.log"
            assert time.monotonic() < deadline, "a node did not join in 90 s"
            time.sleep(1)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """The machine is gone: every process of the node, at once, with no goodbye."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """Throw the cluster away as a lost machine goes: a graceful `ray stop` waits on each
        node for seconds and leaves nothing this test needs."""
        for process in reversed(self.processes):  # each its own process group: this cluster only
            with contextlib.suppress(ProcessLookupError):  # a node the test already killed
                self.kill(process)
