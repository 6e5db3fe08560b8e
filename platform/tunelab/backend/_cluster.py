"""Ray's start and stop: join a cluster at an address, or start Ray in this process; and what
the cluster's nodes hold."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.started or (exc_type is not None and self.address):
            shutdown_ray()
