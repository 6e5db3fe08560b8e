"""`tunelab sweeps`: each sweep's state read from its parent run and heartbeat, and closing one
whose driver was lost. The store is written here as sweeps leave it; no Ray."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from tunelab.cli import main
from tunelab.errors import TunelabError
from tunelab.sweeps import close_sweep, list_sweeps


@pytest.fixture
def store(tmp_path: Path) -> dict[str, Any]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tunelab")
    runs: dict[str, str] = {}

    def sweep(name: str, status: str, heartbeat: float | None, trials: list[str | None]) -> None:
        tags = {"tunelab.role": "sweep", "tunelab.sweep": name}
        if heartbeat is not None:
            tags["tunelab.heartbeat"] = str(int(heartbeat))
        parent = client.create_run(experiment, tags=tags, run_name=name).info.run_id
        runs[name] = parent
        for i, outcome in enumerate(trials):
            child_tags = {"mlflow.parentRunId": parent, "tunelab.role": "trial",
                          "tunelab.sweep": name}  # fmt: skip
            if outcome is not None:
                child_tags["tunelab.outcome"] = outcome
            child = client.create_run(experiment, tags=child_tags, run_name=f"trial-{i:03d}")
            runs[f"{name}/{i}"] = child.info.run_id
            if outcome is not None:
                client.set_terminated(child.info.run_id, "FINISHED")
        if status != "RUNNING":
            client.set_terminated(parent, status)

    now = time.time()
    sweep("done", "FINISHED", now - 3600, ["completed", "stopped_early"])
    sweep("lost", "RUNNING", now - 3600, ["completed", None])
    sweep("live", "RUNNING", now, [None])
    return {"uri": uri, "client": client, "runs": runs}


def test_each_sweep_reads_as_running_finished_or_interrupted(store: dict[str, Any]) -> None:
    listed = {s.name: s for s in list_sweeps(tracking_uri=store["uri"])}
    assert {name: s.state for name, s in listed.items()} == {
        "done": "finished",
        "lost": "interrupted",  # RUNNING, but its heartbeat stopped an hour ago
        "live": "running",
    }
    assert listed["done"].trials == {"completed": 1, "stopped_early": 1}
    assert listed["lost"].trials == {"completed": 1, "open": 1}


def test_closing_a_lost_sweep_ends_its_open_runs_killed_with_the_reason(
    store: dict[str, Any],
) -> None:
    client, runs = store["client"], store["runs"]
    assert close_sweep("lost", reason="laptop lost", tracking_uri=store["uri"]) == 1
    open_trial = client.get_run(runs["lost/1"])
    assert open_trial.info.status == "KILLED"
    assert open_trial.data.tags["tunelab.outcome"] == "killed"
    assert open_trial.data.tags["tunelab.closed"] == "laptop lost"
    assert client.get_run(runs["lost/0"]).info.status == "FINISHED"  # its end is kept
    assert client.get_run(runs["lost"]).info.status == "KILLED"
    assert close_sweep("done", tracking_uri=store["uri"]) is None  # nothing to close


def test_a_sweep_still_beating_is_not_closed(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(TunelabError, match=r"^sweep 'live' is running: its heartbeat is \d+ s old"):
        close_sweep("live", tracking_uri=store["uri"])
    assert store["client"].get_run(store["runs"]["live"]).info.status == "RUNNING"
    assert main(["sweeps", "--tracking-uri", store["uri"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["live", "running"],
        ["lost", "interrupted"],
        ["done", "finished"],
    ]
