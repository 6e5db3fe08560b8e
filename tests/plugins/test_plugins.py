"""A user's own model and data: an installed plugin package (entry points), import paths, and
the one-line errors a broken plugin gives before any trial starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent / "example"
TUNELAB = [sys.executable, "-m", "tunelab.cli"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, installed (entry points and all) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return target


def tunelab(args: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "TUNELAB_CACHE_DIR": str(cwd / "cache")}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [*TUNELAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


SPEC = """
name: plugin-sweep
model: {model}
dataset: {dataset}
metric: val_accuracy
mode: max
budget: {{trials: 2, max_epochs: 10, concurrency: 2}}
searcher: random
scheduler: fifo
space:
  lr: 3.0e-2
  batch_size: 16
{space}
"""


def write_spec(folder: Path, model: str, dataset: str, space: str = "") -> str:
    (folder / "spec.yaml").write_text(SPEC.format(model=model, dataset=dataset, space=space))
    return "spec.yaml"


def test_list_shows_the_installed_plugin(tmp_path: Path, site: Path) -> None:
    result = tunelab(["list"], tmp_path, site)
    assert result.returncode == 0, result.stderr
    assert "wide_linear    one hidden layer of `units` units" in result.stdout
    assert "rings          two noisy concentric rings in the plane" in result.stdout


def test_sweep_with_an_entry_point_model_and_an_import_path_loader(
    tmp_path: Path, site: Path
) -> None:
    spec = write_spec(
        tmp_path,
        model="wide_linear",
        dataset="{name: 'tunelab_example_plugin.data:load_rings', options: {n: 300}}",
        space="  units: {type: int, low: 4, high: 32, log: true}",
    )
    result = tunelab(["sweep", spec, "--json"], tmp_path, site)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == 2
    assert 4 <= summary["best"]["config"]["units"] <= 32
    assert summary["best"]["metric"] > 0.6  # two rings are easy


@pytest.mark.parametrize(
    ("model", "dataset", "expected"),
    [
        (
            "nosuch.models:build",
            "rings",
            "spec.yaml:3: model: cannot import 'nosuch.models': "
            "ModuleNotFoundError: No module named 'nosuch'",
        ),
        (
            "tunelab_example_plugin.models:build_missing",
            "rings",
            "spec.yaml:3: model: module 'tunelab_example_plugin.models' has no attribute "
            "'build_missing'",
        ),
        (
            "tunelab_example_plugin.models:build_broken",
            "rings",
            "spec.yaml:3: model: 'tunelab_example_plugin.models:build_broken' raised while "
            "building: ValueError: units must be a power of two",
        ),
        (
            "wide_linear",
            "tunelab_example_plugin.data:load_misshapen",
            "spec.yaml:4: dataset: 'tunelab_example_plugin.data:load_misshapen' failed to load: "
            "ValueError: x has 10 rows but y has 7",
        ),
    ],
)
def test_a_broken_plugin_is_one_line_and_exit_2_before_any_trial(
    tmp_path: Path, site: Path, model: str, dataset: str, expected: str
) -> None:
    result = tunelab(["sweep", write_spec(tmp_path, model, dataset)], tmp_path, site)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"tunelab: error: {expected}"]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "tunelab_results").exists()


@pytest.fixture(scope="module")
def promoted_plugin_model(tmp_path_factory: pytest.TempPathFactory, site: Path) -> Path:
    """A sweep of a model named by import path, its best promoted to `rings-model`; run where
    the plugin is installed. Returns the folder holding the store."""
    folder = tmp_path_factory.mktemp("plugin-model")
    spec = write_spec(
        folder,
        model="tunelab_example_plugin.models:build_wide_linear",
        dataset="wine",
        space="  units: {type: int, low: 4, high: 16}",
    )
    swept = tunelab(["sweep", spec, "--name", "plugin-sweep", "--max-epochs", "2"], folder, site)
    assert swept.returncode == 0, swept.stderr
    # The spec names the user's own module: code read back from the store, trusted explicitly.
    promoted = tunelab(
        ["promote", "plugin-sweep", "--model-name", "rings-model", "--trust-code"], folder, site
    )
    assert promoted.returncode == 0, promoted.stderr
    return folder


def without_plugin(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """tunelab where the plugin package is not installed."""
    env = {**os.environ, "TUNELAB_CACHE_DIR": str(cwd / "cache")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [*TUNELAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


MISSING_PLUGIN = (
    "cannot import 'tunelab_example_plugin.models': ModuleNotFoundError: "
    "No module named 'tunelab_example_plugin'"
)


def test_report_on_a_model_whose_plugin_is_not_installed_is_one_line(
    promoted_plugin_model: Path,
) -> None:
    result = without_plugin(["report", "plugin-sweep", "--trust-code"], promoted_plugin_model)
    assert result.returncode == 2, result.stderr
    # The sweep's recorded spec is checked first, and names the model where it is: the sweep
    # ran with --max-epochs, so in the spec it recorded, below the two lines saying so.
    recorded = "spec.yaml recorded by sweep 'plugin-sweep'"
    assert result.stderr.splitlines() == [f"tunelab: error: {recorded}:4: model: {MISSING_PLUGIN}"]
    assert not (promoted_plugin_model / "tunelab_reports").exists()


def test_predict_with_a_model_whose_plugin_is_not_installed_is_one_line(
    promoted_plugin_model: Path,
) -> None:
    examples = promoted_plugin_model / "examples.csv"
    examples.write_text(",".join(["0.5"] * 13) + "\n")
    result = without_plugin(
        ["predict", "models:/rings-model@champion", str(examples), "--trust-code"],
        promoted_plugin_model,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"tunelab: error: {MISSING_PLUGIN}"]
