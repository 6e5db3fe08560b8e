"""The one exception hierarchy. The CLI turns any TunelabError into one line and exit status 2."""

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
    """A name looked up in a registry (model, dataset, ...) that is not there."""


class UnsafeModelError(TunelabError):
    """A model artifact that is not what was recorded, or that would run code when loaded."""


class NonFiniteMetricError(TunelabError):
    """A trial's loss or metric became NaN or infinite. Recorded as failure reason `non_finite_metric`."""

    reason = "non_finite_metric"

    def __init__(self, name: str, value: float, epoch: int):
        self.name, self.value, self.epoch = name, value, epoch
        super().__init__(f"{self.reason}: {name} is {value} at epoch {epoch}")

    def __reduce__(self) -> tuple[type, tuple[str, float, int]]:
        # Crosses process boundaries (Ray pickles a trial's exception for the driver).
        return (type(self), (self.name, self.value, self.epoch))
