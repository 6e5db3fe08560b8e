"""The Python API as a notebook uses it: docs/api.md's session run as it is written, and bad
input raised as the one line the command prints."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import tunelab
from tunelab.errors import DuplicateNameError, PluginError, SpecError

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_session() -> str:
    """The Python blocks of docs/api.md, in order."""
    text = API_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "docs/api.md has no Python block"
    return "\n".join(blocks)


@pytest.mark.e2e
def test_the_documented_notebook_session_runs_as_written(
    ray_session: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's default store and the results land here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    namespace: dict[str, Any] = {"__name__": "notebook"}
    try:
        exec(compile(documented_session(), str(API_DOC), "exec"), namespace)
    finally:
        from tunelab.models import architectures

        architectures.unregister("tiny_mlp")  # registered for this process only
    result = namespace["result"]
    assert result.sweep == "notebook-wine" and result.counts["completed"] == 4
    table = namespace["table"]
    assert sorted(table["trial"]) == [f"trial-{i:03d}" for i in range(4)]  # as they started
    assert table["width"].between(8, 64).all() and table["val_accuracy"].notna().all()
    assert result.best["metric"] == table["val_accuracy"].max()
    (written,) = namespace["explained"].reports
    assert (written.folder / "report.html").exists() and written.run_id == result.best["run_id"]
    assert namespace["decision"].promoted
    assert namespace["probabilities"].shape == (5, 3)
    assert namespace["probabilities"].sum(axis=1) == pytest.approx([1.0] * 5, rel=1e-5)
    assert namespace["message"] == "spec: space.lr.low: must be > 0 when log is true, got 0"


def test_bad_input_raises_the_line_the_command_prints(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("model: mlp\ndataset: digits\nmetric: val_accuracy\nmode: max\n"
                    "budget: {trials: 2, max_epochs: 2}\nspace:\n  lr: {type: float, low: 0, "
                    "high: 1, log: true}\n")  # fmt: skip
    with pytest.raises(SpecError) as caught:
        tunelab.sweep(spec)
    assert str(caught.value) == f"{spec}:7: space.lr.low: must be > 0 when log is true, got 0"
    with pytest.raises(SpecError, match=r"^--concurrency: must be >= 1, got 0$"):
        tunelab.validate(
            {"model": "mlp", "dataset": "wine", "metric": "val_accuracy", "mode": "max",
             "budget": {"trials": 1, "max_epochs": 1}, "space": {"lr": 0.1}},
            {"--concurrency": 0},
        )  # fmt: skip
    with pytest.raises(tunelab.TunelabError, match=r"^--extend needs --trials N"):
        tunelab.sweep(extend="earlier")
    with pytest.raises(SpecError, match=r"^spec: model: unknown model 'nosuch'"):
        tunelab.validate({"model": "nosuch", "dataset": "wine", "metric": "val_accuracy",
                          "mode": "max", "budget": {"trials": 1, "max_epochs": 1},
                          "space": {"lr": 0.1}})  # fmt: skip


def test_overrides_are_spec_keys_and_an_error_names_one_as_the_caller_wrote_it() -> None:
    """From Python, an override is a keyword (`max_epochs=`) or a dotted spec key; an error
    names it that way, not as a command-line flag."""
    spec = {"model": "mlp", "dataset": "wine", "metric": "val_accuracy", "mode": "max",
            "budget": {"trials": 1, "max_epochs": 3}, "space": {"lr": 0.1}}  # fmt: skip
    with pytest.raises(SpecError, match=r"^max_epochs: must be >= 1, got 0$"):
        tunelab.sweep(spec, max_epochs=0)
    with pytest.raises(SpecError, match=r"^budget.max_wall_s: must be > 0, got -1$"):
        tunelab.sweep(spec, overrides={"budget.max_wall_s": -1})
    loaded = tunelab.validate(spec, {"max_epochs": 2, "budget.max_wall_s": 60})
    assert (loaded.spec.budget.max_epochs, loaded.spec.budget.max_wall_s) == (2, 60)
    assert "#   budget.max_wall_s: 60 (from budget.max_wall_s; not in the spec)" in (
        loaded.recorded_text
    )


def test_registering_is_checked_like_any_plugin() -> None:
    with pytest.raises(DuplicateNameError, match="'mlp' is already registered"):
        tunelab.register_model("mlp", lambda hparams, info: None)
    with pytest.raises(PluginError, match="expected a builder function"):
        tunelab.register_model("not-a-builder", 42)
    assert "mlp" in tunelab.list_models() and "wine" in tunelab.list_datasets()


def test_a_registered_model_with_an_unknown_trainer_is_refused_by_the_spec_check() -> None:
    from tunelab.models import Architecture, architectures

    tunelab.register_model("odd", Architecture("odd", "trains oddly", print, trainer="rl"))
    try:
        with pytest.raises(SpecError) as caught:
            tunelab.validate({"model": "odd", "dataset": "wine", "metric": "val_accuracy",
                              "mode": "max", "budget": {"trials": 1, "max_epochs": 1},
                              "space": {"lr": 0.1}})  # fmt: skip
    finally:
        architectures.unregister("odd")
    assert (
        str(caught.value)
        == "spec: model: model 'odd' names trainer 'rl'; trainers: supervised, gan"
    )


def test_a_sweep_spec_object_is_run_as_the_mapping_it_came_from() -> None:
    mapping = {"model": "mlp", "dataset": "wine", "metric": "val_accuracy", "mode": "max",
               "budget": {"trials": 3, "max_epochs": 2}, "searcher": "random",
               "space": {"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}}  # fmt: skip
    loaded = tunelab.validate(mapping)
    again = tunelab.validate(loaded.spec, {"--trials": 5})
    assert again.spec.budget.trials == 5
    assert again.spec.model_copy(update={"budget": loaded.spec.budget}) == loaded.spec
