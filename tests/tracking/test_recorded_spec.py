"""A spec read back from a sweep (report, resume, --extend): its errors point at a line that
holds what they name, in the user's file where it is still the text the sweep ran, else in the
spec the sweep recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tunelab import tracking
from tunelab.errors import SpecError
from tunelab.tracking.tags import TAG_SWEEP

SPEC = """\
name: old-sweep
model: no_such_model
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 2, max_epochs: 2}
space:
  lr: 1.0e-2
"""


def recorded_sweep(tmp_path: Path, text: str) -> tuple[MlflowClient, object]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("sweeps", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment, tags={TAG_SWEEP: "old-sweep"})
    client.log_param(run.info.run_id, "spec_file", str(tmp_path / "spec.yaml"))
    (tmp_path / "as-run").mkdir()
    (tmp_path / "as-run" / "spec.yaml").write_text(text)
    client.log_artifact(run.info.run_id, str(tmp_path / "as-run" / "spec.yaml"))
    return client, client.get_run(run.info.run_id)


def error_of(client: MlflowClient, run: object, into: Path) -> str:
    into.mkdir()
    with pytest.raises(SpecError) as caught:
        tracking.sweep_spec(client, run, into)
    return str(caught.value)


def test_an_unchanged_spec_file_is_named_with_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    client, run = recorded_sweep(tmp_path, SPEC)
    error = error_of(client, run, tmp_path / "read")
    assert error.startswith(f"{tmp_path / 'spec.yaml'}:2: model: ")


def test_a_spec_file_edited_since_names_the_recorded_spec(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("# moved the model down\n\n" + SPEC)
    client, run = recorded_sweep(tmp_path, SPEC)
    error = error_of(client, run, tmp_path / "read")
    assert error.startswith("spec.yaml recorded by sweep 'old-sweep':2: model: ")
