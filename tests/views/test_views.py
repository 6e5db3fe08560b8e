"""What a person looks at: the live board draws what the sweep tells it, and the sweep's plots
name the views a study cannot support yet instead of failing."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
from rich.console import Console

from tunelab.views import NOT_DRAWN, Board, draw_views_into


def rendered(board: Board) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(board)
    return console.export_text()


def test_the_board_shows_each_trials_state_epoch_metric_and_the_best() -> None:
    board = Board(sweep="s", trials=3, max_epochs=4, metric="val_accuracy")
    board.started("a", "trial-000")
    board.started("b", "trial-001")
    board.started("c", "trial-002")
    board.result("a", 2, 0.75)
    board.result("b", 1, 0.5)
    board.result("c", 4, 0.9)
    board.ended("a", "stopped_early", best=0.75)
    board.ended("c", "completed", best=0.75, broken=("latency_ms",))
    board.result("b", 2, 0.8)  # higher than the best trial's, but still running
    text = rendered(board)
    row_a, row_b, row_c = (
        next(line for line in text.splitlines() if name in line)
        for name in ("trial-000", "trial-001", "trial-002")
    )
    assert "stopped_early" in row_a and "2/4" in row_a and "0.7500" in row_a
    assert "running" in row_b and "2/4" in row_b and "0.8000" in row_b
    # The best is the best trial's, as the sweep said (its summary, its tags, promote): an
    # infeasible trial is marked and is not it, and a running trial's value is not it yet.
    assert "infeasible: latency_ms" in row_c and "0.9000" in row_c
    assert row_b.rstrip(" │").endswith("0.7500")
    assert "2/3" in text  # two trials ended of three


def test_views_a_study_cannot_support_yet_are_named_with_the_reason(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("lr", 0.0, 1.0), n_trials=1)
    draw_views_into(tmp_path, study, target_name="val_accuracy")
    assert (tmp_path / "optimization_history.html").exists()
    assert (tmp_path / "optimization_history.png").exists()
    not_drawn = (tmp_path / NOT_DRAWN).read_text()
    assert "param_importances: needs 2 finished trials, the study has 1" in not_drawn
    assert not (tmp_path / "param_importances.html").exists()
