"""The one exception hierarchy. Every error a user can cause is a TunelabError whose message is
one line they can act on; the CLI prints it and exits with status 2, the Python API raises it."""

from __future__ import annotations


class TunelabError(Exception):
    """Base of every error tunelab raises on purpose; its message is one line a user can act on."""


class SpecError(TunelabError):
    """A sweep spec that cannot run, located by file, line and key path."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None, path: str = ""):
        self.message = message
        self.source = source
        self.line = line
        self.path = path
        super().__init__(self.format())

    def format(self) -> str:
        where = self.source
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        parts = [p for p in (where, self.path) if p]
        return ": ".join([*parts, self.message])


class NotFoundError(TunelabError):
    """A name looked up in a registry (model, dataset, ...) or a store that is not there."""


class DuplicateNameError(TunelabError, ValueError):
    """A name registered twice without `override=True`."""


class PluginError(TunelabError):
    """A model or dataset named by import path that cannot be imported or used."""


class UnsafeModelError(TunelabError):
    """A model artifact that is not what was recorded, or that would run code when loaded."""


class CheckpointError(TunelabError, ValueError):
    """A checkpoint tunelab cannot read (another format version, or not a checkpoint)."""


class SourceError(TunelabError):
    """A model to start from (a transfer source) that cannot be found or read."""


class ClusterError(TunelabError):
    """The Ray cluster cannot run this sweep as specified."""


class ResourceProblem(ClusterError):
    """A trial's resources that the cluster cannot provide; `path` is the spec key."""

    def __init__(self, path: tuple[str, ...], message: str):
        self.path = path
        super().__init__(message)


class TrackingError(TunelabError):
    """The tracking store cannot be used."""


class DatabaseError(TunelabError):
    """The server-mode database cannot be reached or used."""


class ReportError(TunelabError):
    """A report's target cannot be found or explained."""


class NonFiniteMetricError(TunelabError):
    """A trial's loss or metric became NaN or infinite. Recorded as failure reason `non_finite_metric`."""

    reason = "non_finite_metric"

    def __init__(self, name: str, value: float, epoch: int):
        self.name, self.value, self.epoch = name, value, epoch
        super().__init__(f"{self.reason}: {name} is {value} at epoch {epoch}")

    def __reduce__(self) -> tuple[type, tuple[str, float, int]]:
        # Crosses process boundaries (Ray pickles a trial's exception for the driver).
        return (type(self), (self.name, self.value, self.epoch))


class Terminated(KeyboardInterrupt):
    """SIGTERM (a preemption, `kill`): the sweep stops as for Ctrl-C; the command exits 143."""


def first_line(text: str) -> str:
    """The first non-blank line of `text`, stripped and at most 500 characters."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:500]
    return ""


def first_line_of(exc: BaseException) -> str:
    """An exception's message in one line, or its type when it has none."""
    return first_line(str(exc)) or type(exc).__name__


def error_line(exc: BaseException) -> str:
    """An exception that ended a trial, in one line: tunelab's own errors as their message
    (`non_finite_metric: ...`), any other as `Type: message`."""
    if isinstance(exc, TunelabError):
        return first_line(str(exc))
    return first_line(f"{type(exc).__name__}: {exc}")


def cause_of(exc: BaseException) -> str:
    """`Type: first line` of an exception raised by a user's code (a builder, a loader)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
