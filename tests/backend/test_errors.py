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
