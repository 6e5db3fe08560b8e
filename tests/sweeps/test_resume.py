"""`tunelab resume` after the driver was SIGKILLed at three points of a sweep: before any trial
finished, mid-sweep, during the last trial. What the resumed sweep leaves is what an
uninterrupted one records: one parent, one child run per trial of the budget, every epoch of
every trial once, every suggestion of the study told once, none repeated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from tests.conftest import kill_machine

from tunelab.search import optuna_journal

pytestmark = pytest.mark.e2e

TRIALS, EPOCHS = 4, 20  # a CNN with small batches: about 3 s a trial, to be killed mid-way
SPEC = f"""
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: {TRIALS}, max_epochs: {EPOCHS}, concurrency: 1}}
scheduler: fifo
space:
  lr: {{type: float, low: 1.0e-3, high: 3.0e-2, log: true}}
  width: {{type: int, low: 16, high: 64}}
  batch_size: 16
"""
# A heartbeat every second: a killed driver's sweep can be resumed 3 s later, not 90.
ENV = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
       "TUNELAB_HEARTBEAT_S": "1"}  # fmt: skip


def tunelab(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunelab.cli", *args],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def trials(client: MlflowClient, sweep: str) -> list[Any]:
    experiment = client.get_experiment_by_name("tunelab")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id],
        f"tags.`tunelab.role` = 'trial' and tags.`tunelab.sweep` = '{sweep}'",
    )


def kill_when(
    folder: Path,
    sweep: str,
    ready: Any,
    spec: str = SPEC,
    flags: tuple[str, ...] = (),
    env: dict[str, str] = ENV,
) -> None:
    """Start the sweep; SIGKILL its driver, and the Ray it started, once `ready(runs)`."""
    (folder / "spec.yaml").write_text(spec)
    # The store made before the driver starts: two processes making one SQLite store's tables
    # at once race ("table ... already exists"), and this one would look while it makes them.
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    client.search_experiments()
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml", "--name", sweep, "--json",
         *flags],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while True:
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the sweep never reached the point to kill it at"
        if ready(client, trials(client, sweep)):
            break
        time.sleep(0.3)
    kill_machine(driver.pid)
    driver.wait(timeout=30)


def epochs(client: MlflowClient, run: Any) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy"))


def checkpoints(folder: Path, sweep: str) -> list[str]:
    """The checkpoints in the sweep's trial folders (for a failure's message)."""
    root = folder / "tunelab_results" / sweep
    return sorted(str(path.relative_to(root)) for path in root.glob("trial-*/checkpoint_*"))


def mid_training(client: MlflowClient, runs: list[Any], finished: int) -> bool:
    """`finished` trials completed, and another one has recorded at least 2 epochs. (A run
    is tagged with its outcome a moment before it is ended: a trial that just completed is not
    the one going.)"""
    done = [r for r in runs if r.data.tags.get("tunelab.outcome") == "completed"]
    going = [
        r
        for r in runs
        if r.info.status == "RUNNING"
        and "tunelab.outcome" not in r.data.tags
        and len(epochs(client, r)) >= 2
    ]
    return len(done) == finished and bool(going)


@pytest.mark.parametrize(
    "finished", [0, 2, TRIALS - 1], ids=["before-any-ended", "mid-sweep", "last-trial"]
)
def test_a_killed_sweep_resumes_to_what_an_uninterrupted_one_records(
    tmp_path: Path, finished: int
) -> None:
    sweep = f"killed-{finished}"
    kill_when(tmp_path, sweep, lambda client, runs: mid_training(client, runs, finished))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    before = {r.info.run_name: epochs(client, r) for r in trials(client, sweep)}
    on_disk = checkpoints(tmp_path, sweep)

    time.sleep(3.5)  # three heartbeats missed: its driver is gone
    resumed = tunelab(["resume", sweep, "--json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == TRIALS and sum(summary["trials"].values()) == TRIALS

    runs = trials(client, sweep)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.params["resumed_1_at"]
    assert sorted(r.info.run_name for r in runs) == [f"trial-{i:03d}" for i in range(TRIALS)]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert epochs(client, run) == list(range(1, EPOCHS + 1)), run.info.run_name
    # The trial that was training went on in its own run, from its latest checkpoint: the epoch
    # after the last one recorded, or later where the driver got epochs it died before
    # recording (Ray's results in the trial's folder fill them in, with their own metrics).
    going_on = [r for r in runs if r.data.tags.get("tunelab.resumed_at_epoch")]
    assert len(going_on) == 1, (
        f"no single trial went on: epochs recorded at the kill {before}; on disk then {on_disk}; "
        f"the resume said:\n{resumed.stderr[-2000:]}"
    )
    (going,) = going_on
    resumed_at = int(going.data.tags["tunelab.resumed_at_epoch"])
    assert len(before[going.info.run_name]) + 1 <= resumed_at <= EPOCHS
    folder = tmp_path / "tunelab_results" / sweep / going.info.run_name
    assert (folder / f"checkpoint_{resumed_at - 2:06d}" / "checkpoint.pt").is_file()
    # Optuna: each trial told once, none left running, no configuration proposed twice.
    import optuna

    study = optuna.load_study(
        study_name=sweep,
        storage=optuna_journal(tmp_path / "tunelab_results" / sweep / "optuna.journal"),
    )
    told = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(told) == TRIALS and not [t for t in study.trials if t.state.name == "RUNNING"]
    assert len({json.dumps(t.params, sort_keys=True) for t in told}) == TRIALS
    assert all(sorted(t.intermediate_values) == list(range(1, EPOCHS + 1)) for t in told)

    again = tunelab(["resume", sweep], tmp_path)
    assert again.returncode == 0 and f"sweep {sweep} is finished: nothing to resume" in again.stdout


def test_a_killed_sweep_resumes_with_every_flag_it_was_started_with(tmp_path: Path) -> None:
    """The spec a sweep records is the sweep as run: the file's budget is 24 trials of 20
    epochs, the command line's 3 of 6, and the resumed sweep runs 3 of 6, with the seed, the
    concurrency and the retries of the command line."""
    sweep = "flags"
    spec = SPEC.replace(f"trials: {TRIALS}, max_epochs: {EPOCHS}", "trials: 24, max_epochs: 20")
    flags = ("--trials", "3", "--max-epochs", "6", "--seed", "11", "--concurrency", "1",
             "--max-retries", "2")  # fmt: skip
    kill_when(tmp_path, sweep, lambda client, runs: mid_training(client, runs, 1), spec, flags)
    on_disk = checkpoints(tmp_path, sweep)
    # And lost as it had asked Optuna for the next trial, before that trial's run was created.
    import optuna

    study = optuna.load_study(
        study_name=sweep,
        storage=optuna_journal(tmp_path / "tunelab_results" / sweep / "optuna.journal"),
    )
    orphan = study.ask()
    asked = {
        "lr": orphan.suggest_float("lr", 1.0e-3, 3.0e-2, log=True),
        "width": orphan.suggest_int("width", 16, 64),
    }

    time.sleep(3.5)  # three heartbeats missed: its driver is gone
    resumed = tunelab(["resume", sweep, "--json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    counts = summary["trials"]
    assert counts["completed"] == 3 and sum(counts.values()) == 3, counts
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = sorted(trials(client, sweep), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in runs] == ["trial-000", "trial-001", "trial-002"]
    seeds = [run.data.params["seed"] for run in runs]
    for run in runs:
        assert epochs(client, run) == list(range(1, 7)), run.info.run_name
    # The sweep's seed, plus the trial's number.
    assert seeds == ["11", "12", "13"], f"on disk at the kill: {on_disk}; {resumed.stderr[-2000:]}"
    # The asked trial was run by the first new trial, with its number, seed and parameters.
    if orphan.number < 3:
        (taken,) = [run for run in runs if run.data.params["seed"] == str(11 + orphan.number)]
        assert float(taken.data.params["lr"]) == pytest.approx(asked["lr"])
        assert int(taken.data.params["width"]) == asked["width"]

    from tunelab import tracking

    parent = client.get_run(summary["parent_run_id"])
    stored = tracking.sweep_spec(client, parent, tmp_path).spec  # what resume read back
    assert (stored.budget.trials, stored.budget.max_epochs, stored.seed) == (3, 6, 11)
    assert (stored.budget.concurrency, stored.failure.max_retries) == (1, 2)


def test_a_killed_submitter_run_again_at_once_finishes_its_sweep(tmp_path: Path) -> None:
    """A Kubernetes Job's retry, a preempted head: `tunelab sweep SPEC --name N --resume`
    started the sweep; killed mid-sweep and run again at once, it waits for the dead driver's
    heartbeat to go stale, saying so, goes on, and the sweep ends with every trial's epochs
    recorded once. Run once more, it says the sweep is finished and exits 0."""
    sweep = "submitted"
    command = ["sweep", "spec.yaml", "--name", sweep, "--resume", "--json"]
    # A heartbeat every 4 s: still fresh when the command runs again (stale 12 s after it).
    beating = {**ENV, "TUNELAB_HEARTBEAT_S": "4"}
    kill_when(tmp_path, sweep, lambda client, runs: mid_training(client, runs, 1), SPEC,
              ("--resume",), beating)  # fmt: skip

    again = tunelab(command, tmp_path)  # at once: the heartbeat is still fresh
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"tunelab: sweep '{sweep}' has a heartbeat " in again.stderr
    assert "for it to go stale" in again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == TRIALS, summary["trials"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = trials(client, sweep)
    assert sorted(r.info.run_name for r in runs) == [f"trial-{i:03d}" for i in range(TRIALS)]
    for run in runs:
        assert epochs(client, run) == list(range(1, EPOCHS + 1)), run.info.run_name

    done = tunelab(command, tmp_path)
    assert done.returncode == 0 and f"sweep {sweep} is finished: nothing to resume" in done.stdout


def test_a_submitter_killed_before_its_sweep_began_is_run_again(tmp_path: Path) -> None:
    """Killed after taking the sweep's name, before recording the sweep: the name's folder
    holds no trial and the store no sweep. The same command takes the name again and runs it."""
    from tunelab.spec import parse_spec
    from tunelab.sweeps import reserve_name

    (tmp_path / "spec.yaml").write_text(SPEC)
    flags = {"--name": "early", "--max-epochs": 2}
    reserve_name(parse_spec(SPEC, "spec.yaml", flags), tmp_path / "tunelab_results")
    command = ["sweep", "spec.yaml", "--name", "early", "--max-epochs", "2"]
    taken = tunelab(command, tmp_path)  # without --resume the name is taken
    assert taken.returncode == 2 and "a sweep named 'early' already exists" in taken.stderr
    again = tunelab([*command, "--resume", "--json"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "tunelab: sweep 'early' took its name and stopped before it began" in again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["trials"]["completed"] == TRIALS, summary["trials"]


def test_a_name_whose_folder_holds_trials_is_not_given_back(tmp_path: Path) -> None:
    """A folder whose study has trials is a sweep that began (recorded in another store, or
    not yet): it is never released, whatever the store says."""
    import optuna

    from tunelab.search import JOURNAL_FILE
    from tunelab.sweeps import release_unbegun

    folder = tmp_path / "results" / "began"
    study = optuna.create_study(study_name="began", storage=optuna_journal(folder / JOURNAL_FILE))
    study.ask()
    assert not release_unbegun("began", str(tmp_path / "results"), None)
    assert (folder / JOURNAL_FILE).is_file()
    (tmp_path / "results" / "unbegun").mkdir()
    assert release_unbegun("unbegun", str(tmp_path / "results"), None)
    assert not (tmp_path / "results" / "unbegun").exists()


def test_a_submitter_whose_name_ran_another_spec_is_refused(tmp_path: Path) -> None:
    sweep = "other-spec"
    kill_when(tmp_path, sweep, lambda client, runs: mid_training(client, runs, 0), SPEC,
              ("--resume",))  # fmt: skip
    time.sleep(3.5)  # three heartbeats missed: its driver is gone
    (tmp_path / "spec.yaml").write_text(SPEC.replace("batch_size: 16", "batch_size: 32"))
    refused = tunelab(["sweep", "spec.yaml", "--name", sweep, "--resume"], tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"tunelab: error: sweep '{sweep}' exists and ran another spec (space differs): choose "
        f"another --name, or `tunelab resume {sweep}` to go on with its own"
    )


# Two fused groups of two; the second is killed mid-training, with its members a few epochs in.
FUSED_SPEC = SPEC.replace("scheduler: fifo", "scheduler: fifo\nfusion: 2").replace(
    "width: {type: int, low: 16, high: 64}", "width: 32"
)


def test_a_killed_fused_sweep_resumes_each_member_alone_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    """The members of the group that was training go on, each alone (as an unfused trial), in
    its own run and Optuna trial, from its own latest checkpoint; the ended group is untouched."""
    sweep = "killed-fused"
    kill_when(tmp_path, sweep, lambda client, runs: mid_training(client, runs, 2), FUSED_SPEC)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    before = {r.info.run_name: (r.info.run_id, epochs(client, r)) for r in trials(client, sweep)}
    groups = {r.info.run_name: r.data.tags["tunelab.fused_group"] for r in trials(client, sweep)}
    assert groups == {"trial-000": "group-000", "trial-001": "group-000",
                      "trial-002": "group-001", "trial-003": "group-001"}  # fmt: skip

    time.sleep(3.5)  # three heartbeats missed: its driver is gone
    resumed = tunelab(["resume", sweep, "--json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    counts = summary["trials"]
    assert counts["completed"] == TRIALS and sum(counts.values()) == TRIALS, counts

    runs = {r.info.run_name: r for r in trials(client, sweep)}
    assert sorted(runs) == [f"trial-{i:03d}" for i in range(TRIALS)]
    for name, run in runs.items():
        assert run.info.run_id == before[name][0]  # the same run, not a new one
        assert run.info.status == "FINISHED"
        assert epochs(client, run) == list(range(1, EPOCHS + 1)), name
    for name in ("trial-000", "trial-001"):  # the group that ended: untouched
        assert "tunelab.resumed_at_epoch" not in runs[name].data.tags
    for name in ("trial-002", "trial-003"):  # each went on from its own latest checkpoint
        resumed_at = int(runs[name].data.tags["tunelab.resumed_at_epoch"])
        assert len(before[name][1]) + 1 <= resumed_at <= EPOCHS, name
        folder = tmp_path / "tunelab_results" / sweep / name
        assert (folder / f"checkpoint_{resumed_at - 1:06d}" / "checkpoint.pt").is_file(), name
    # Each member's learning rate is its own: the resumed members kept theirs.
    lrs = [runs[f"trial-{i:03d}"].data.params["lr"] for i in range(TRIALS)]
    assert len(set(lrs)) == TRIALS

    import optuna

    study = optuna.load_study(
        study_name=sweep,
        storage=optuna_journal(tmp_path / "tunelab_results" / sweep / "optuna.journal"),
    )
    told = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(told) == TRIALS and not [t for t in study.trials if t.state.name == "RUNNING"]
    assert all(sorted(t.intermediate_values) == list(range(1, EPOCHS + 1)) for t in told)


def test_a_sweep_whose_driver_still_beats_is_not_resumed(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "sweep", "spec.yaml", "--name", "alive", "--json"],
        cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        deadline = time.monotonic() + 300
        while not ((tmp_path / "mlflow.db").exists() and trials(client, "alive")):
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
        refused = tunelab(["resume", "alive"], tmp_path)
    finally:
        kill_machine(driver.pid)
        driver.wait(timeout=30)
    assert refused.returncode == 2
    # It waited for the heartbeat to go stale (a driver killed a moment ago would have let it),
    # and it was renewed: the driver is alive.
    waited, error = refused.stderr.strip().splitlines()[-2:]
    assert waited.startswith("tunelab: sweep 'alive' has a heartbeat ")
    assert error.startswith("tunelab: error: sweep 'alive' is running: its heartbeat is ")
    assert error.endswith("was renewed while this waited; resume it once its driver has stopped")
