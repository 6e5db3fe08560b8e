"""Why a trial failed, in one line: a lost worker or node (`worker_crashed`, `node_lost`, which
Ray retries), or the exception the trial's code raised, without Ray's wrapping."""

from __future__ import annotations

from pathlib import Path

from ray.exceptions import NodeDiedError, RayActorError, RayTaskError, WorkerCrashedError
from ray.tune.experiment import Trial

from tunelab.errors import error_line, first_line

NODE_LOST, WORKER_CRASHED = "node_lost", "worker_crashed"


def trial_error_line(trial: Trial) -> str:
    """The first line of what ended a trial: `node_lost: ...` or `worker_crashed: ...` when its
    process or machine died; else the exception, tunelab's own errors as their message
    (`non_finite_metric: ...`), others as `Type: message`."""
    try:
        error = trial.get_pickled_error()
    except Exception:
        error = None
    if error is not None:
        return failure_line(error)
    # Some of Ray's errors do not unpickle (ActorUnavailableError): their text is kept.
    error_file = trial.error_file
    if error_file and Path(error_file).exists():
        lines = [
            ln for ln in Path(error_file).read_text(errors="replace").splitlines() if ln.strip()
        ]
        if lines:
            return lost_worker_text(lines[-1]) or clean_error_line(lines[-1])
    return "unknown error"


def failure_line(error: BaseException) -> str:
    lost = lost_worker(error)
    if lost is not None:
        return lost
    return error_line(getattr(error, "cause", None) or error)


def lost_worker(error: BaseException) -> str | None:
    """`node_lost: ...` or `worker_crashed: ...` for a failure of the machinery, not of the
    trial's code; None otherwise."""
    if isinstance(error, RayTaskError):
        cause = error.as_instanceof_cause()
        error = cause if isinstance(cause, RayActorError) else error
    if isinstance(error, NodeDiedError):
        return f"{NODE_LOST}: {first_line(str(error))}"
    if not isinstance(error, RayActorError | WorkerCrashedError):
        return None
    return lost_worker_text(str(error)) or f"{WORKER_CRASHED}: {first_line(str(error))}"


# How Ray words the death of a trial's actor, its worker process or its node.
LOST_SIGNS = ("The actor", "worker process", "Worker crashed", "node has died", "raylet")


def lost_worker_text(text: str) -> str | None:
    """`node_lost: ...` or `worker_crashed: ...` for Ray's message of a dead actor, worker or
    node; None for any other text."""
    if not any(sign in text for sign in LOST_SIGNS):
        return None
    why = next((ln.strip() for ln in text.splitlines() if "because" in ln), first_line(text))
    lowered = why.lower()
    node = "node" in lowered and "worker process" not in lowered
    return f"{NODE_LOST if node else WORKER_CRASHED}: {why}"


def clean_error_line(line: str) -> str:
    """`tunelab.errors.NonFiniteMetricError: msg` -> `msg`; `pkg.mod.KeyError: msg` -> `KeyError: msg`."""
    qualified, sep, message = line.strip().partition(": ")
    if not sep or " " in qualified:
        return first_line(line)
    if qualified.startswith("tunelab."):
        return first_line(message)
    return first_line(f"{qualified.rsplit('.', 1)[-1]}: {message}")
