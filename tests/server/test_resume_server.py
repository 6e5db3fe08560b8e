"""Server mode: a sweep recording through `tunelab server`, its Optuna study in PostgreSQL,
SIGKILLed mid-sweep and resumed: the same structure as an uninterrupted sweep, in the server's
store and the database's study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient
from tests.conftest import kill_machine

TRIALS, EPOCHS = 3, 40  # about 6 s a trial: the server shows one done while the next trains
SPEC = f"""
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: {TRIALS}, max_epochs: {EPOCHS}, concurrency: 1}}
scheduler: fifo
space:
  lr: {{type: float, low: 1.0e-3, high: 3.0e-2, log: true}}
  batch_size: 16
"""


def test_a_killed_server_mode_sweep_resumes_in_the_servers_store_and_study(
    server: dict[str, str], tmp_path: Path
) -> None:
    import optuna

    from tunelab.search import study_storage_uri

    (tmp_path / "spec.yaml").write_text(SPEC)
    flags = ["--tracking-uri", server["url"], "--database-uri", server["database_uri"]]
    env = {**os.environ, "TUNELAB_HEARTBEAT_S": "1"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml", "--name", "srv-killed", *flags],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    client = MlflowClient(server["url"])
    experiment_id = None
    deadline = time.monotonic() + 300
    while True:  # one trial done and the next one training
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the sweep never got mid-way"
        experiment = client.get_experiment_by_name("tunelab")
        if experiment is not None:
            experiment_id = experiment.experiment_id
            runs = client.search_runs([experiment_id], "tags.`tunelab.sweep` = 'srv-killed'")
            children = [r for r in runs if r.data.tags.get("tunelab.role") == "trial"]
            done = [r for r in children if r.data.tags.get("tunelab.outcome") == "completed"]
            going = [r for r in children if r.info.status == "RUNNING" and r.data.metrics]
            if done and going:
                break
        time.sleep(0.3)
    kill_machine(driver.pid)
    driver.wait(timeout=30)

    time.sleep(3.5)  # its heartbeat stops
    resumed = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "resume", "srv-killed", "--json", *flags],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == TRIALS and sum(summary["trials"].values()) == TRIALS
    runs = client.search_runs([experiment_id], "tags.`tunelab.sweep` = 'srv-killed'")
    children = [r for r in runs if r.data.tags.get("tunelab.role") == "trial"]
    assert sorted(r.info.run_name for r in children) == [f"trial-{i:03d}" for i in range(TRIALS)]
    for run in children:
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), run.info.run_name
    study = optuna.load_study(
        study_name="srv-killed", storage=study_storage_uri(server["database_uri"])
    )
    told = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(told) == TRIALS and not [t for t in study.trials if t.state.name == "RUNNING"]
    assert not (tmp_path / "tunelab_results" / "srv-killed" / "optuna.journal").exists()
