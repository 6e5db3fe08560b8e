"""Ray's start and stop: join a cluster at an address, or start Ray in this process; and what
the cluster's nodes hold."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import ray

from tunelab import env
from tunelab.errors import ClusterError, first_line


def start_ray(address: str | None, *, debug: bool = False, metrics_port: int | None = None) -> bool:
    """Join the cluster at `address`, or start Ray in this process. True if we started it.
    `metrics_port`: where Ray in this process serves its metrics and the sweep's for Prometheus
    (default $TUNELAB_METRICS_PORT, else a free port); a cluster's nodes have their own."""
    if ray.is_initialized():
        return False
    log_level = logging.INFO if debug else logging.WARNING
    if address:
        try:
            ray.init(address=address, logging_level=log_level, log_to_driver=debug)
        except Exception as exc:
            raise ClusterError(
                f"cannot join the Ray cluster at {address}: {first_line(str(exc))} (is it up, "
                "and does this machine have its token? RAY_AUTH_MODE=token with RAY_AUTH_TOKEN "
                "or RAY_AUTH_TOKEN_PATH, as its nodes were started)"
            ) from None
        return False
    if not debug:  # Ray says it turned token authentication on for its in-process cluster
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR
        )
    # Workers run in their trial's folder; the working directory stays importable for them, as
    # it is for the driver, so a spec can name a model in the user's own package.
    env.set_pythonpath([str(Path.cwd()), *(env.PYTHONPATH.get() or "").split(os.pathsep)])
    ray.init(
        # "local": always a fresh in-process Ray. With no address Ray would join any cluster named
        # in /tmp/ray/ray_current_cluster, and wait forever if that cluster has since died.
        address="local",
        include_dashboard=False,
        logging_level=log_level,
        log_to_driver=debug,
        configure_logging=True,
        _metrics_export_port=metrics_port or env.TUNELAB_METRICS_PORT.get(),
    )
    return True


def shutdown_ray() -> None:
    ray.shutdown()


def cluster_nodes() -> list[tuple[float, float]]:
    """(CPUs, GPUs) of each live node of the cluster Ray is connected to."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return [(n.get("CPU", 0.0), n.get("GPU", 0.0)) for n in nodes]


@dataclass(frozen=True)
class NodeType:
    """A kind of worker node the cluster's autoscaler can launch."""

    name: str
    cpu: float
    gpu: float
    max_count: int  # how many it may launch; -1: no limit


def node_types() -> list[NodeType]:
    """The worker node types the autoscaler of the cluster Ray is connected to can launch; []
    where it has none (or none this driver can see). From Ray's cluster configuration in the
    GCS where the autoscaler publishes it; else from the autoscaler's own configuration: the
    file the head's autoscaler was started with (`ray up`, `ray start --autoscaling-config`,
    with the driver on the head), or on KubeRay the RayCluster, read through Kubernetes' API as
    KubeRay's autoscaler reads it."""
    from ray._private.state import state

    published = state.get_cluster_config()
    if published is not None and published.node_group_configs:
        return [
            NodeType(
                group.name,
                float(group.resources.get("CPU", 0)),
                float(group.resources.get("GPU", 0)),
                int(group.max_count),
            )
            for group in published.node_group_configs
            if group.max_count != 0
        ]
    config = _autoscaling_config()
    return node_types_of(config) if config is not None else []


def node_types_of(config: Mapping[str, Any]) -> list[NodeType]:
    """The worker node types of an autoscaling configuration (a `ray up` cluster file, or what
    KubeRay's autoscaler derives from a RayCluster): the head's type is not one."""
    head = config.get("head_node_type")
    cluster_max = config.get("max_workers")
    types = []
    for name, node in (config.get("available_node_types") or {}).items():
        most = node.get("max_workers", cluster_max if cluster_max is not None else 0)
        if cluster_max is not None:
            most = min(most, cluster_max)
        resources = node.get("resources") or {}
        if name != head and most > 0:
            cpu, gpu = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
            types.append(NodeType(str(name), cpu, gpu, int(most)))
    return types


def _autoscaling_config() -> dict[str, Any] | None:
    kuberay = env.RAY_CLUSTER_NAME.get(), env.RAY_CLUSTER_NAMESPACE.get()
    if kuberay[0] and kuberay[1]:
        from ray.autoscaler._private.kuberay.autoscaling_config import (
            AutoscalingConfigProducer,
        )

        try:
            config: dict[str, Any] = AutoscalingConfigProducer(*kuberay)()
            return config
        except Exception:  # no access to the RayCluster: only what is up counts
            return None
    path = _monitor_config_path()
    if path is None:
        return None
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _monitor_config_path() -> str | None:
    """The configuration file of the autoscaler of this cluster, when it runs on this machine:
    Ray's monitor process, started with the GCS's address and `--autoscaling-config`."""
    import psutil

    port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[-1]
    for process in psutil.process_iter(["cmdline"]):
        args = process.info.get("cmdline") or []
        if not any(arg.endswith(("monitor.py", "monitor")) for arg in args[:3]):
            continue
        if not any(a.startswith("--gcs-address=") and a.endswith(f":{port}") for a in args):
            continue
        for arg in args:
            if arg.startswith("--autoscaling-config="):
                path = Path(arg.split("=", 1)[1]).expanduser()
                try:
                    return str(path if path.is_absolute() else Path(process.cwd()) / path)
                except psutil.Error:
                    return None
    return None


def pending_nodes() -> dict[str, int]:
    """Nodes the autoscaler is launching or waiting for, by node type ({} without one, or
    when it cannot be asked: what it says is for people, never a reason to stop a sweep)."""
    try:
        return _pending_nodes()
    except Exception:
        return {}


def _pending_nodes() -> dict[str, int]:
    from ray.autoscaler.v2.utils import is_autoscaler_v2
    from ray.experimental.internal_kv import _internal_kv_get

    pending: Counter[str] = Counter()
    if is_autoscaler_v2():
        from ray.autoscaler.v2.sdk import get_cluster_status

        status = get_cluster_status(ray.get_runtime_context().gcs_address)
        for launch in status.pending_launches:
            pending[launch.ray_node_type_name] += launch.count
        pending.update(node.ray_node_type_name for node in status.pending_nodes)
        return dict(pending)
    raw = _internal_kv_get("__autoscaling_status")  # the v1 autoscaler's report
    report = (json.loads(raw) if raw else {}).get("autoscaler_report") or {}
    for name, count in (report.get("pending_launches") or {}).items():
        pending[name] += int(count)
    pending.update(name for _ip, name, _status in report.get("pending_nodes") or [])
    return dict(pending)


class Cluster:
    """Ray for the length of a sweep. With an address, the cluster is joined on entering, so its
    resources are checked before anything else; Ray in this process is started later, by
    `start()`, while the tracking store is being reached. On leaving, Ray is stopped if it was
    started here, and a joined cluster is left if the sweep failed."""

    def __init__(
        self, address: str | None, *, debug: bool = False, metrics_port: int | None = None
    ) -> None:
        self.address, self.debug, self.metrics_port = address, debug, metrics_port
        self.started = False

    def __enter__(self) -> Cluster:
        if self.address:
            self.started = start_ray(self.address, debug=self.debug)
        return self

    def start(self) -> None:
        """Start Ray in this process (nothing to do when a cluster was joined)."""
        if not self.address:
            self.started = start_ray(None, debug=self.debug, metrics_port=self.metrics_port)

    def nodes(self) -> list[tuple[float, float]]:
        return cluster_nodes()

    def node_types(self) -> list[NodeType]:
        return node_types() if self.address else []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.started or (exc_type is not None and self.address):
            shutdown_ray()
