"""Whoever can write to the tracking store must not get to run code on whoever reads from it: a
spec read back from the store (resume, --extend, report, promote, reproduce, predict) imports
no module it names unless the user trusts it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tunelab.errors import PluginError, TunelabError
from tunelab.plugins import import_object, stored_code

PLANTED = """
model: mlp
dataset:
  name: os:system
  options: {{command: "touch {target}"}}
metric: val_accuracy
mode: max
budget: {{trials: 1, max_epochs: 1}}
space:
  lr: 0.01
"""


def plant(uri: str, target: Path) -> None:
    """A sweep in the store whose spec names `os:system`, as someone with write access would."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.create_experiment("tunelab")
    run = client.create_run(
        experiment, run_name="planted", tags={"tunelab.sweep": "planted", "tunelab.role": "sweep"}
    )
    client.log_text(run.info.run_id, PLANTED.format(target=target), "spec.yaml")
    client.set_terminated(run.info.run_id, "KILLED")  # its driver stopped: resumable


@pytest.mark.parametrize(
    "command", [["resume", "planted"], ["sweep", "--extend", "planted", "--trials", "1"]]
)
def test_a_spec_from_the_store_naming_code_is_refused_and_nothing_runs(
    tmp_path: Path, command: list[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    target = tmp_path / "PWNED"
    plant(uri, target)
    result = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", *command, "--tracking-uri", uri,
         "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("tunelab: error: ") and line.endswith(
        "spec.yaml:4: dataset.name: 'os:system' is code named by a spec from the tracking store; "
        "not imported: pass --trust-code to run it, or list 'os' in $TUNELAB_TRUSTED_MODULES"
    ), line
    assert not target.exists()


def test_trusted_modules_and_code_outside_the_store_are_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = "sklearn.datasets:load_wine"
    assert callable(import_object(ref))  # a spec the user gives: their own code
    with stored_code(refused=True), pytest.raises(PluginError, match="list 'sklearn' in"):
        import_object(ref)
    monkeypatch.setenv("TUNELAB_TRUSTED_MODULES", "numpy, sklearn")
    with stored_code(refused=True):
        assert callable(import_object(ref))  # the package above the module is trusted
        with pytest.raises(PluginError):
            import_object("os:system")


def test_the_python_api_refuses_it_too(tmp_path: Path) -> None:
    import tunelab

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    target = tmp_path / "PWNED"
    plant(uri, target)
    with pytest.raises(TunelabError, match="'os:system' is code named by a spec from the"):
        tunelab.resume("planted", tracking_uri=uri, results_dir=str(tmp_path / "results"))
    with pytest.raises(TunelabError, match="pass --trust-code to run it"):
        tunelab.sweep(extend="planted", trials=1, tracking_uri=uri)
    assert not target.exists()
