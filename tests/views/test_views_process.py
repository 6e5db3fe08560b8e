"""The views drawn in a process of their own at a sweep's end: what it draws is what the driver
would draw, it takes the CPU only at the lowest priority, and the driver draws itself where the
process did not."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import optuna

from tunelab.search import optuna_journal
from tunelab.views import ViewsProcess, draw_views_into


def finished_study(folder: Path) -> tuple[optuna.Study, Any]:
    """A study of 12 trials in a journal, as a sweep leaves it; and its storage."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna_journal(folder / "journal.log")
    study = optuna.create_study(study_name="views", storage=storage, direction="maximize")
    study.optimize(
        lambda trial: (
            trial.suggest_float("lr", 1e-4, 1e-1, log=True)
            + trial.suggest_int("width", 16, 128) / 100
        ),
        n_trials=12,
    )
    return study, storage


def test_the_process_draws_the_views_the_driver_would(tmp_path: Path) -> None:
    study, storage = finished_study(tmp_path)
    views = ViewsProcess()
    views.start()
    try:
        assert views.process is not None
        pid = views.process.pid
        deadline = time.monotonic() + 30
        while os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0):
            assert time.monotonic() < deadline, "the views' process kept the driver's priority"
            time.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0)
        views.draw("views", storage, "val_accuracy")
        drawn, here = tmp_path / "drawn", tmp_path / "here"
        drawn.mkdir(), here.mkdir()
        assert views.drawn(drawn)
    finally:
        views.close()
    draw_views_into(here, study, target_name="val_accuracy")
    assert sorted(p.name for p in drawn.iterdir()) == sorted(p.name for p in here.iterdir())
    assert {p.suffix for p in drawn.iterdir()} == {".html", ".png"}


def test_where_the_process_did_not_draw_them_the_driver_is_told_to(tmp_path: Path) -> None:
    _, storage = finished_study(tmp_path)
    views = ViewsProcess()
    views.start()
    assert views.process is not None
    views.process.kill()  # lost before it drew
    views.draw("views", storage, "val_accuracy")
    try:
        assert not views.drawn(tmp_path / "nothing")
    finally:
        views.close()
    assert views.process is None


def test_a_process_handed_no_study_ends_when_the_driver_closes_its_input() -> None:
    views = ViewsProcess()
    views.start()
    assert views.process is not None and views.process.stdin is not None
    process = views.process
    views.process.stdin.close()  # as when the driver dies: its end of the pipe closes
    assert process.wait(timeout=60) == 0
    views.close()
