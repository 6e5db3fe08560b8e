"""Every environment variable tunelab reads, declared once with its type and meaning; and the
settings tunelab gives the libraries it drives, unless the user has set them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tunelab.errors import TunelabError

T = TypeVar("T")


@dataclass(frozen=True)
class Var(Generic[T]):
    name: str
    doc: str
    parse: Callable[[str], T]

    def get(self) -> T | None:
        """The variable's value, or None when it is unset or empty."""
        value = os.environ.get(self.name)
        if not value:
            return None
        try:
            return self.parse(value)
        except ValueError:
            kind = {int: "an integer", float: "a number"}.get(self.parse, "valid")  # type: ignore[call-overload]
            raise TunelabError(f"${self.name} must be {kind}, got {value!r}") from None


def _text(name: str, doc: str) -> Var[str]:
    return Var(name, doc, str)


MLFLOW_TRACKING_URI = _text(
    "MLFLOW_TRACKING_URI", "Tracking store when --tracking-uri is not given."
)
MLFLOW_TRACKING_USERNAME = _text(
    "MLFLOW_TRACKING_USERNAME",
    "MLflow's: the user a command acts as on an authenticated tracking server (with "
    "MLFLOW_TRACKING_PASSWORD); named in tunelab's messages.",
)
MLFLOW_FLASK_SERVER_SECRET_KEY = _text(
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLflow's: signs the tracking server UI's forms; set it, the same, on every replica "
    "(`tunelab server` makes one per start otherwise).",
)
RAY_ADDRESS = _text("RAY_ADDRESS", "Ray cluster to join when --address is not given.")
RAY_CLUSTER_NAME = _text(
    "RAY_CLUSTER_NAME",
    "KubeRay's: the RayCluster a Ray pod belongs to; with RAY_CLUSTER_NAMESPACE, a sweep's "
    "driver reads the worker groups the autoscaler can add from it.",
)
RAY_CLUSTER_NAMESPACE = _text(
    "RAY_CLUSTER_NAMESPACE", "The namespace of the RayCluster named by RAY_CLUSTER_NAME."
)
TUNELAB_RESULTS_DIR = _text(
    "TUNELAB_RESULTS_DIR",
    "Where Ray keeps trial checkpoints and the Optuna study (default ./tunelab_results). "
    "On a multi-machine cluster this must be shared storage (NFS path or s3:// URI).",
)
TUNELAB_DATABASE_URI = _text(
    "TUNELAB_DATABASE_URI",
    "PostgreSQL database of server mode (postgresql://USER:PASSWORD@HOST:PORT/DB): the tracking "
    "server's store, and the sweeps' Optuna studies (schema `optuna`). Set it on the server and "
    "where sweeps are launched.",
)
TUNELAB_ARTIFACTS_DESTINATION = _text(
    "TUNELAB_ARTIFACTS_DESTINATION",
    "Where `tunelab server` keeps artifacts it serves (a folder or s3:// URI; default "
    "./tunelab_artifacts).",
)
TUNELAB_SERVER_HOST = _text(
    "TUNELAB_SERVER_HOST", "Address `tunelab server` listens on (127.0.0.1)."
)
TUNELAB_SERVER_PORT = Var("TUNELAB_SERVER_PORT", "Port `tunelab server` listens on (5000).", int)
TUNELAB_ALLOWED_HOSTS = _text(
    "TUNELAB_ALLOWED_HOSTS",
    "More names `tunelab server` answers, comma-separated, besides its --allowed-hosts.",
)
TUNELAB_ADMIN_PASSWORD = _text(
    "TUNELAB_ADMIN_PASSWORD",
    "Turns authentication on in `tunelab server` when --admin-password-file is not given: the "
    "password of its admin user, created on the first start.",
)
TUNELAB_TRACKING_GIVE_UP_S = Var(
    "TUNELAB_TRACKING_GIVE_UP_S",
    "At the end of a sweep, how long to wait for an unreachable tracking store before giving up "
    "(default 120); what is still pending stays in the sweep's tracking_spool.jsonl.",
    float,
)
TUNELAB_HEARTBEAT_S = Var(
    "TUNELAB_HEARTBEAT_S",
    "How often a running sweep renews its heartbeat (default 30 s); a sweep whose heartbeat is "
    "three of its own intervals old has lost its driver and can be resumed or closed.",
    float,
)
TUNELAB_TRUSTED_MODULES = _text(
    "TUNELAB_TRUSTED_MODULES",
    "Comma-separated modules (or packages) whose code a spec read back from the tracking store "
    "may name as `module:attribute` (see --trust-code); others are refused.",
)
TUNELAB_METRICS_PORT = Var(
    "TUNELAB_METRICS_PORT",
    "Where Ray started by a sweep in this process serves the sweep's metrics and Ray's own for "
    "Prometheus, when --metrics-port is not given (default: a free port; see dashboards/).",
    int,
)
TUNELAB_CACHE_DIR = _text(
    "TUNELAB_CACHE_DIR", "Where reference models are cached (default ~/.cache/tunelab)."
)
PATH = _text("PATH", "Extended by `tunelab serve` with the folder of its Python's commands.")
PYTHONPATH = _text(
    "PYTHONPATH",
    "Read and extended when tunelab starts Ray in-process: Ray's workers inherit it, so the "
    "working directory's own packages are importable in trials as on the driver.",
)

# Settings for the libraries tunelab drives, applied with os.environ.setdefault: a value the user
# set wins. Each is read by its library, at import or at first use.
LIBRARY_DEFAULTS: dict[str, tuple[str, str]] = {
    # MLflow's INFO lines (creating a store's tables, ...) are not tunelab's output.
    "MLFLOW_LOGGING_LEVEL": ("WARNING", "read when mlflow is imported"),
    # With an HTTP store MLflow prints a "View run at" line for every run it ends; tunelab draws
    # its own view and prints one link to the sweep.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": ("true", "tracking writer"),
    # MLflow's HTTP client retries for minutes on its own; tunelab's writer keeps what it cannot
    # send and tries again itself, so each request gives up fast.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": ("1", "tracking writer"),
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": ("1", "tracking writer"),
    "MLFLOW_HTTP_REQUEST_TIMEOUT": ("20", "tracking writer"),
    # A progress bar for every artifact moved: commands print their own lines.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": ("false", "artifact uploads and downloads"),
    # Tune's default CSV/JSON/TensorBoard loggers would write every result again; MLflow has them.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": ("1", "Ray Tune"),
    # Ray warns when it snapshots the experiment often, which keeping the best checkpoints
    # (checkpoints.keep) makes it do by design; 0 turns the warning off.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": ("0", "Ray Tune"),
    # tunelab draws its own live view; Ray's new output engine prints a banner even at verbose=0.
    "RAY_AIR_NEW_OUTPUT": ("0", "Ray Tune"),
}


def apply_library_defaults(*names: str) -> None:
    """Set the named library settings (all of them when none is named) unless already set."""
    for name in names or tuple(LIBRARY_DEFAULTS):
        os.environ.setdefault(name, LIBRARY_DEFAULTS[name][0])


def environment_with(values: dict[str, str]) -> dict[str, str]:
    """This process's environment with `values` set: for a process tunelab starts."""
    return {**os.environ, **values}


def set_pythonpath(paths: list[str]) -> None:
    """Make PYTHONPATH these paths (no duplicates), for the processes tunelab starts."""
    os.environ[PYTHONPATH.name] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
