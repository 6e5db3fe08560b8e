"""Which checkpoint a trial goes on from: the latest of an epoch its run recorded, including one
that reached the trial's folder after the driver died, before it logged the result naming it."""

from __future__ import annotations

import json
from pathlib import Path

from tunelab.backend import checkpoint_dir_at


def checkpoint(folder: Path, index: int, epoch: int | None) -> Path:
    kept = folder / f"checkpoint_{index:06d}"
    kept.mkdir(parents=True)
    (kept / "checkpoint.pt").write_bytes(b"weights")
    if epoch is not None:
        (kept / "epoch").write_text(str(epoch))
    return kept


def test_a_checkpoint_no_result_names_is_found_by_its_epoch(tmp_path: Path) -> None:
    trial = tmp_path / "trial-000"
    second = checkpoint(trial, 1, None)  # from before the epoch file: named by result.json
    lines = [{"epoch": 1}, {"epoch": 2, "checkpoint_dir_name": second.name}]
    (trial / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    third = checkpoint(trial, 2, 3)  # the driver died before it logged epochs 3 and 4
    fourth = checkpoint(trial, 3, 4)
    assert checkpoint_dir_at(trial, 4) == fourth
    assert checkpoint_dir_at(trial, 3) == third  # never one of an epoch it did not record
    assert checkpoint_dir_at(trial, 2) == second
    assert checkpoint_dir_at(trial, 1) is None
    # Where it went on before (trial-000.1), its later checkpoint of an epoch wins.
    again = checkpoint(tmp_path / "trial-000.1", 0, 4)
    assert checkpoint_dir_at(trial, 9) == again
    (again / "checkpoint.pt").unlink()  # cut short: not a checkpoint
    assert checkpoint_dir_at(trial, 9) == fourth
