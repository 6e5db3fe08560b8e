"""Whoever can write to the tracking store must not get to run code on whoever reads from it: a
spec read back from the store (resume, --extend, report, promote, reproduce, predict) imports
no module it names unless the user trusts it."""

from __future__ import annotations

import json
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


def plant_with_a_trial(uri: str, target: Path) -> str:
    """The planted sweep with a finished trial its summary calls the best; the trial's run id."""
    from mlflow import MlflowClient

    from tunelab.tracking import SUMMARY_ARTIFACT

    plant(uri, target)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tunelab").experiment_id
    [parent] = client.search_runs([experiment], "tags.`tunelab.sweep` = 'planted'")
    trial = client.create_run(
        experiment,
        tags={
            "mlflow.parentRunId": parent.info.run_id,
            "tunelab.role": "trial",
            "tunelab.sweep": "planted",
        },
    ).info.run_id
    client.log_metric(trial, "val_accuracy", 0.9, step=1)
    client.set_terminated(trial)
    best = {"run_id": trial, "trial": "trial-000", "metric": 0.9}
    client.log_text(parent.info.run_id, json.dumps({"best": best}), SUMMARY_ARTIFACT)
    return trial


def test_report_promote_and_reproduce_in_the_python_api_refuse_it_unless_trusted(
    tmp_path: Path,
) -> None:
    import tunelab

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    target = tmp_path / "PWNED"
    trial = plant_with_a_trial(uri, target)
    refused = "'os:system' is code named by a spec from the tracking store"
    with pytest.raises(TunelabError, match=refused):
        tunelab.report(trial, tracking_uri=uri, out=tmp_path / "reports")
    with pytest.raises(TunelabError, match=refused):
        tunelab.promote("planted", "planted-model", tracking_uri=uri)
    with pytest.raises(TunelabError, match=refused):
        tunelab.reproduce(trial, tracking_uri=uri)
    assert not target.exists()
    # Trusted, the same call gets past the spec (to the trial's model, which was never logged).
    with pytest.raises(TunelabError, match="has no logged model") as trusted:
        tunelab.report(trial, tracking_uri=uri, out=tmp_path / "reports", trust_code=True)
    assert refused not in str(trusted.value)
