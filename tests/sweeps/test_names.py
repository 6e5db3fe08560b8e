"""A new sweep's name is taken atomically: two sweeps started in the same second get NAME and
NAME-2; the same exact name twice, the second is refused, also across machines that share the
server mode's database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tunelab.errors import TunelabError
from tunelab.spec import parse_spec
from tunelab.sweeps import reserve_name

SPEC = """
name: twin
model: mlp
dataset: wine
metric: val_accuracy
mode: max
budget: {trials: 1, max_epochs: 1}
space:
  lr: 0.01
"""


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return datetime(2026, 11, 29, 12, 0, 0)


def test_two_sweeps_in_the_same_second_get_different_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunelab.sweeps._plan as plan

    monkeypatch.setattr(plan, "datetime", FrozenClock)
    loaded = parse_spec(SPEC, "twin.yaml")
    first, second = reserve_name(loaded, tmp_path), reserve_name(loaded, tmp_path)
    assert first.name == "twin-20261129-120000" and second.name == "twin-20261129-120000-2"
    assert first.folder.is_dir() and second.folder.is_dir()


def test_an_exact_name_twice_is_refused_and_a_release_gives_it_back(tmp_path: Path) -> None:
    loaded = parse_spec(SPEC, "twin.yaml", {"--name": "twin"})
    taken = reserve_name(loaded, tmp_path / "results")
    with pytest.raises(TunelabError, match="a sweep named 'twin' already exists in "):
        reserve_name(loaded, tmp_path / "results")
    taken.release()  # it stopped before it began
    assert not (tmp_path / "results").exists()  # the folder it made, gone with it
    assert reserve_name(loaded, tmp_path / "results").name == "twin"


def test_server_mode_refuses_a_name_taken_on_another_machine(tmp_path: Path) -> None:
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'studies.db'}")
    loaded = parse_spec(SPEC, "twin.yaml", {"--name": "twin"})
    reserve_name(loaded, tmp_path / "machine-a", storage)
    with pytest.raises(TunelabError, match="a sweep named 'twin' already exists in the database"):
        reserve_name(loaded, tmp_path / "machine-b", storage)
    assert not (tmp_path / "machine-b" / "twin").exists()


def test_a_sweep_that_stops_before_it_begins_gives_its_name_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tunelab.cli import main

    (tmp_path / "twin.yaml").write_text(SPEC)
    args = ["sweep", str(tmp_path / "twin.yaml"), "--name", "twin"]
    args += ["--results-dir", str(tmp_path / "results"), "--tracking-uri", "foo://bar"]
    for _ in range(2):  # the second try meets the same store, not a name taken by the first
        assert main(args) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith("tunelab: error: cannot use the tracking store foo://bar"), line
    assert not (tmp_path / "results").exists()


def test_a_name_the_tracking_store_already_holds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from tunelab.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tunelab")
    # A sweep named twin recorded from another machine: its results folder is not here.
    client.create_run(
        experiment, run_name="twin", tags={"tunelab.sweep": "twin", "tunelab.role": "sweep"}
    )
    (tmp_path / "twin.yaml").write_text(SPEC)
    args = ["sweep", str(tmp_path / "twin.yaml"), "--name", "twin"]
    assert main([*args, "--results-dir", str(tmp_path / "results"), "--tracking-uri", uri]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        f"tunelab: error: a sweep named 'twin' already exists in the tracking store {uri}; "
        "choose another --name"
    )
    assert len(client.search_runs([experiment])) == 1  # no second parent run
    assert not (tmp_path / "results").exists()  # the name reserved here, given back
