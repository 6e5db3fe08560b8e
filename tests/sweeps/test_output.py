"""What a user sees from a sweep: the live board, its summary, and none of the libraries'
warnings (`--debug` shows those)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.e2e
def test_a_sweep_prints_its_board_and_summary_and_no_library_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "sweep", str(REPO / "search_spaces/mlp_digits.yaml"),
         "--trials", "2", "--max-epochs", "2", "--name", "quiet",
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    assert "sweep quiet: 2 completed" in "\n".join(lines)
    assert any(line.startswith("sweep quiet: ") for line in lines)  # on a line of its own
    for noise in ("Warning", "WARNING", "Token authentication", "Downloading artifacts"):
        assert noise not in result.stdout, [line for line in lines if noise in line]
