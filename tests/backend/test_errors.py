"""A failed trial's error reads as one line, without Ray's or Python's module paths."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "tunelab.errors.NonFiniteMetricError: non_finite_metric: val_loss is nan at epoch 2",
            "non_finite_metric: val_loss is nan at epoch 2",
        ),
        ("torch.OutOfMemoryError: CUDA out of memory", "OutOfMemoryError: CUDA out of memory"),
        ("KeyError: 'x'", "KeyError: 'x'"),
        ("something went wrong: badly", "something went wrong: badly"),
    ],
)
def test_error_lines_read_without_module_paths(line: str, expected: str) -> None:
    from tunelab.backend import clean_error_line

    assert clean_error_line(line) == expected


def test_a_data_parallel_trial_lost_a_worker_or_raised_its_own_error() -> None:
    """What ended a trial's workers: a dead worker is Ray's to retry (`worker_crashed`), even
    when the others failed on the broken connection to it; else the first worker's own error."""
    from ray.exceptions import ActorDiedError
    from ray.train import WorkerGroupError
    from ray.train.v2._internal.exceptions import (
        UserExceptionWithTraceback,
        WorkerHealthCheckFailedError,
    )

    from tunelab.backend._parallel import WorkersLost, _cause
    from tunelab.errors import NonFiniteMetricError, error_line

    peer = UserExceptionWithTraceback(RuntimeError("Connection closed by peer"), "...")
    died = WorkerHealthCheckFailedError("health check failed", ActorDiedError())
    lost = _cause(WorkerGroupError("lost", {0: peer, 1: died}))
    assert isinstance(lost, WorkersLost)
    assert error_line(lost).startswith("worker_crashed: ")

    nan = NonFiniteMetricError("val_loss", float("nan"), 2)
    own = _cause(WorkerGroupError("own", {1: peer, 0: UserExceptionWithTraceback(nan, "...")}))
    assert own is nan
