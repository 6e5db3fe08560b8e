"""What a user sees from a sweep: the live board, its summary, and none of the libraries'
warnings (`--debug` shows those)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from tunelab.sweeps._run import _live
from tunelab.views import Board

REPO = Path(__file__).resolve().parents[2]


def test_the_live_board_ends_its_line_where_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=100)
    with _live(Board(sweep="s", trials=1, max_epochs=1, metric="val_accuracy"), console):
        pass
    assert stream.getvalue().endswith("\n")


NOISE = ("Warning", "WARNING", "Token authentication", "Downloading artifacts", "type hint")


def tunelab(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunelab.cli", *args,
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )  # fmt: skip


def assert_quiet(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:]
    for noise in NOISE:
        assert noise not in result.stdout, [ln for ln in result.stdout.splitlines() if noise in ln]


@pytest.mark.e2e
def test_a_sweep_promote_and_predict_print_their_own_lines_and_no_library_noise(
    tmp_path: Path,
) -> None:
    """No library warnings, no download progress bars (what a new user saw from `make demo`
    and the commands after it); `--debug` shows those."""
    sweep = tunelab(
        tmp_path, "sweep", str(REPO / "search_spaces/mlp_digits.yaml"), "--trials", "2",
        "--max-epochs", "2", "--name", "quiet", "--results-dir", str(tmp_path / "results"),
    )  # fmt: skip
    assert_quiet(sweep)
    lines = sweep.stdout.splitlines()
    assert "sweep quiet: 2 completed" in "\n".join(lines)
    assert any(line.startswith("sweep quiet: ") for line in lines)  # on a line of its own
    assert_quiet(tunelab(tmp_path, "promote", "quiet", "--model-name", "quiet-model"))
    from sklearn.datasets import load_digits

    examples = tmp_path / "examples.csv"
    np.savetxt(examples, load_digits().data[:3], delimiter=",")
    predicted = tunelab(tmp_path, "predict", "models:/quiet-model@champion", str(examples))
    assert_quiet(predicted)
    assert len(predicted.stdout.strip().splitlines()) >= 3  # a prediction per example
