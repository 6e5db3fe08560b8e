"""A sweep on a data file named relative to its spec, read back later from anywhere: the file is
found where the spec was, and a file that changed since is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunelab.cli import main

pytestmark = pytest.mark.e2e

SPEC = """
name: from-a-file
model: mlp
dataset: {file: measurements.csv, options: {target: kind}}
metric: val_accuracy
mode: max
budget: {trials: 1, max_epochs: 2, concurrency: 1}
searcher: random
scheduler: fifo
space:
  lr: {type: constant, value: 0.01}
"""


def write_table(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 4))
    kind = np.where(x[:, 0] + x[:, 1] > 0, "a", "b")
    rows = [",".join([*(f"{v:.4f}" for v in row), k]) for row, k in zip(x, kind, strict=True)]
    path.write_text("f0,f1,f2,f3,kind\n" + "\n".join(rows) + "\n")


def test_a_spec_relative_data_file_is_found_later_and_a_changed_one_refused(
    ray_session: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow import MlflowClient

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "specs").mkdir(parents=True)
    elsewhere.mkdir()
    write_table(project / "specs" / "measurements.csv", seed=0)
    spec = project / "specs" / "sweep.yaml"
    spec.write_text(SPEC)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    common = ["--tracking-uri", uri]
    monkeypatch.chdir(project)  # the spec is named relative to here
    sweep = ["sweep", "specs/sweep.yaml", "--name", "from-a-file", "--results-dir", str(tmp_path)]
    assert main([*sweep, *common]) == 0

    # Read back from another folder: the data is where the spec was, not here.
    monkeypatch.chdir(elsewhere)
    assert main(["report", "from-a-file", "--out", str(tmp_path / "report"), *common]) == 0

    # The file changes: what was recorded about the sweep no longer describes it.
    write_table(project / "specs" / "measurements.csv", seed=1)
    capsys.readouterr()
    code = main(["promote", "from-a-file", "--model-name", "from-a-file", *common])
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "'measurements.csv' is not the data the sweep ran on" in line, line
    assert str(project / "specs" / "sweep.yaml") in line  # located in the recorded spec
    assert MlflowClient(uri).search_registered_models() == []
