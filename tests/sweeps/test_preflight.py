"""The driver's checks between a valid spec and the first trial: one located line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import SpecError
from tunelab.spec import parse_spec
from tunelab.sweeps import prepare

TRANSFER = """
model:
  name: transfer
  options: {{source: "{source}"}}
dataset: {dataset}
metric: val_accuracy
mode: max
budget: {{trials: 2, max_epochs: 2}}
space:
  init: pretrained
"""


def prepared_error(text: str, tracking_uri: str | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        prepare(parse_spec(text, "t.yaml"), tracking_uri=tracking_uri)
    return str(caught.value)


def test_a_source_of_another_input_shape_is_refused_before_any_trial() -> None:
    message = prepared_error(TRANSFER.format(source="reference:digits_0_4", dataset="wine"))
    assert message == (
        "t.yaml:3: model.name: 'transfer' raised while building: ValueError: the source model "
        "takes inputs shaped (1, 8, 8), the data is shaped (13,)"
    )


def test_a_missing_registered_source_names_the_option(tmp_path: Path) -> None:
    message = prepared_error(
        TRANSFER.format(source="models:/nope@champion", dataset="digits_5_9"),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    assert message.startswith("t.yaml:4: model.options.source: cannot fetch the model ")
    assert "nope" in message and "\n" not in message


def test_a_source_path_that_is_not_a_checkpoint_names_the_option(tmp_path: Path) -> None:
    message = prepared_error(TRANSFER.format(source=tmp_path / "none.pt", dataset="digits_5_9"))
    assert message == (
        f"t.yaml:4: model.options.source: {tmp_path / 'none.pt'}: no such checkpoint; give "
        "models:/NAME@ALIAS, a run id, or a checkpoint path"
    )


def test_a_reference_source_resolves_to_weights_of_the_source_shape() -> None:
    prepared = prepare(
        parse_spec(TRANSFER.format(source="reference:digits_0_4", dataset="digits_5_9"), "t.yaml"),
        tracking_uri=None,
    )
    source = prepared.options["source"]
    assert source["architecture"] == "cnn" and source["data_info"]["n_classes"] == 5
    assert prepared.data.n_classes == 5 and len(prepared.data.train) == 250


def test_a_reference_source_of_a_regression_task_names_the_option() -> None:
    message = prepared_error(TRANSFER.format(source="reference:adding", dataset="digits_5_9"))
    assert message == (
        "t.yaml:4: model.options.source: reference:adding: a reference classifier needs a "
        "classification dataset"
    )


WORKERS = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {{trials: 8, max_epochs: 2}}
resources: {{cpu: 1, workers: {workers}}}
space:
  lr: {{type: float, low: 1.0e-4, high: 1.0e-1, log: true}}
"""


def test_trials_of_several_workers_fit_by_their_workers_across_nodes() -> None:
    from tunelab.sweeps._plan import concurrency

    two_nodes = [(2.0, 0.0), (3.0, 0.0)]  # room for 5 workers of 1 CPU
    assert concurrency(parse_spec(WORKERS.format(workers=2), "t.yaml"), two_nodes) == 2
    assert concurrency(parse_spec(WORKERS.format(workers=5), "t.yaml"), two_nodes) == 1
    assert concurrency(parse_spec(WORKERS.format(workers=2), "t.yaml"), [(2.0, 0.0)]) == 1
    with pytest.raises(SpecError) as caught:
        concurrency(parse_spec(WORKERS.format(workers=6), "t.yaml"), two_nodes)
    assert str(caught.value) == (
        "t.yaml:7: resources.workers: the cluster cannot hold one trial's 6 workers of 1 CPU "
        "and 0 GPU each: it has room for 5"
    )
