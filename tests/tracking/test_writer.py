"""The batching writer against a real MLflow store (SQLite), without Ray."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tunelab.errors import TrackingError
from tunelab.tracking import SWEEP, TrackingWriter, trial_tags


def test_every_point_arrives_once_runs_nest_and_end_with_their_status(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    writer = TrackingWriter(uri, "writer-test", batch_window_s=0.05)
    writer.open_sweep("sweep-a", tags={"tunelab.role": "sweep"}, params={"trials": "2"})
    parent = writer.wait_ready()
    for key, status in (("t0", "FINISHED"), ("t1", "FAILED")):
        tags = trial_tags(
            sweep="sweep-a", parent_run_id=parent, trial_id=key, model="mlp", dataset="digits"
        )
        writer.start_run(key, f"trial-{key}", tags=tags, params={"lr": "0.1"})
        for epoch in range(1, 1201):  # more than one log_batch holds
            writer.log(key, epoch, {"val_loss": 1.0 / epoch, "val_accuracy": epoch / 1200})
        writer.end_run(key, status, {"tunelab.outcome": status.lower()})
    writer.end_run(SWEEP, "FINISHED")
    writer.close()
    assert writer.failed_writes == []

    client = MlflowClient(uri)
    assert client.get_run(parent).info.status == "FINISHED"
    for key, status in (("t0", "FINISHED"), ("t1", "FAILED")):
        run = client.get_run(writer.run_id(key) or "")
        assert run.info.status == status
        assert run.info.run_name == f"trial-{key}"
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.params == {"lr": "0.1"}
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == list(range(1, 1201))


def test_an_unusable_store_fails_fast_with_one_line() -> None:
    writer = TrackingWriter("nosuchscheme://here", "x")
    writer.open_sweep("s", tags={}, params={})
    with pytest.raises(TrackingError) as caught:
        writer.wait_ready(timeout_s=30)
    assert str(caught.value).startswith("cannot use the tracking store nosuchscheme://here: ")
    assert "\n" not in str(caught.value)
    writer.close(timeout_s=5)


def test_work_after_written_sees_every_write_before_it(tmp_path: Path) -> None:
    """What the sweep does once results are recorded (deleting old checkpoints) never runs
    before the writes enqueued ahead of it reached the store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    writer = TrackingWriter(uri, "writer-after", batch_window_s=0.2)
    writer.open_sweep("sweep-b", tags={"tunelab.role": "sweep"}, params={})
    writer.wait_ready()
    writer.start_run("t0", "trial-t0", tags={}, params={})
    seen: list[list[int]] = []

    def look(upto: int) -> None:
        client = MlflowClient(uri)
        steps = sorted(m.step for m in client.get_metric_history(writer.run_id("t0"), "val_loss"))
        seen.append([*steps[-1:], upto])

    for epoch in range(1, 6):
        writer.log("t0", epoch, {"val_loss": 1.0 / epoch})
        writer.after_written(f"look at epoch {epoch}", lambda upto=epoch: look(upto))
    writer.close()
    assert writer.failed_writes == []
    assert seen and all(last >= upto for last, upto in seen), seen
    assert len(seen) == 5


def test_a_run_starts_and_ends_when_it_did_not_when_the_writer_got_to_it(tmp_path: Path) -> None:
    """A trial's system metrics are sampled from its first second; its run must not begin after
    them because the writer was busy (or the store away) when the trial started."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    writer = TrackingWriter(uri, "writer-start", batch_window_s=0.05)
    writer.open_sweep("sweep-c", tags={"tunelab.role": "sweep"}, params={})
    writer.wait_ready()
    writer.after_written("a slow write ahead", lambda: time.sleep(1.5))
    time.sleep(0.5)  # its batch closed: the writer is busy with it
    started_ms = time.time() * 1000
    writer.start_run("t0", "trial-t0", tags={}, params={})
    writer.end_run("t0", "FINISHED")
    ended_ms = time.time() * 1000
    writer.close()
    assert writer.failed_writes == []
    run = MlflowClient(uri).get_run(writer.run_id("t0") or "")
    assert started_ms - 1 <= run.info.start_time <= run.info.end_time <= ended_ms + 1
