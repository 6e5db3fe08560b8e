"""A failed trial's error as one line: the exception Ray kept for it, without Ray's wrapping."""

from __future__ import annotations

from pathlib import Path

from ray.tune.experiment import Trial

from tunelab.errors import TunelabError, first_line


def trial_error_line(trial: Trial) -> str:
    """The first line of the exception that ended a trial, without Ray's wrapping; tunelab's own
    errors read as their message (`non_finite_metric: ...`), others as `Type: message`."""
    try:
        error = trial.get_pickled_error()
    except Exception:
        error = None
    if error is not None:
        cause = getattr(error, "cause", None) or error
        if isinstance(cause, TunelabError):
            return first_line(str(cause))
        return first_line(f"{type(cause).__name__}: {cause}")
    error_file = trial.error_file
    if error_file and Path(error_file).exists():
        lines = [
            ln for ln in Path(error_file).read_text(errors="replace").splitlines() if ln.strip()
        ]
        if lines:
            return clean_error_line(lines[-1])
    return "unknown error"


def clean_error_line(line: str) -> str:
    """`tunelab.errors.NonFiniteMetricError: msg` -> `msg`; `pkg.mod.KeyError: msg` -> `KeyError: msg`."""
    qualified, sep, message = line.strip().partition(": ")
    if not sep or " " in qualified:
        return first_line(line)
    if qualified.startswith("tunelab."):
        return first_line(message)
    return first_line(f"{qualified.rsplit('.', 1)[-1]}: {message}")
