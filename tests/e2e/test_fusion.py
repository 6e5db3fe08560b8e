"""Fused sweeps end to end: each member of a fused group is its own trial, Optuna trial, MLflow
run and model; the group trains in step on one trainer; a member fails or stops alone; and a
member retrained alone reaches the metric it logged."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tunelab.cli import main
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

MEMBERS_OWN = {"lr", "weight_decay", "momentum", "grad_clip", "dropout", "seed"}

MLP_SPEC = """
name: {name}
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: 6, max_epochs: 3, concurrency: 1}}
searcher: {{sampler: random}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
seed: 3
fusion: 4
space:
  optimizer: {{type: categorical, choices: [sgd]}}
  lr: {{type: categorical, choices: [0.2, 0.1, 1.0e+12]}}
  momentum: {{type: float, low: 0.5, high: 0.9}}
  width: {{type: categorical, choices: [16, 32]}}
  dropout: {{type: float, low: 0.0, high: 0.3}}
"""


def children(uri: str, sweep: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tunelab")
    if experiment is None:  # not yet created
        return []
    runs = client.search_runs([experiment.experiment_id], f"tags.`tunelab.sweep` = '{sweep}'")
    return sorted(
        (r for r in runs if r.data.tags.get("tunelab.role") == "trial"),
        key=lambda r: r.info.run_name,
    )


def test_a_fused_sweep_records_each_member_as_its_own_trial(ray_session, store) -> None:
    loaded = parse_spec(MLP_SPEC.format(name="e2e-fused"), "fused.yaml", {"--name": "e2e-fused"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    runs = children(store["tracking_uri"], "e2e-fused")
    assert [r.info.run_name for r in runs] == [f"trial-{i:03d}" for i in range(6)]

    # Groups in the order the searcher proposed: four, then the two trials left.
    groups: dict[str, list] = defaultdict(list)
    for run in runs:
        assert "tunelab_fusion" not in run.data.params  # a tag, not a hyperparameter
        groups[run.data.tags["tunelab.fused_group"]].append(run)
    assert {g: len(members) for g, members in groups.items()} == {"group-000": 4, "group-001": 2}
    for members in groups.values():
        shared = [{k: v for k, v in r.data.params.items() if k not in MEMBERS_OWN} for r in members]
        assert all(s == shared[0] for s in shared), shared  # the width, the optimizer
        assert len({r.data.params["seed"] for r in members}) == len(members)

    # A member whose loss diverges fails alone; its group's others train on.
    diverged = [r for r in runs if float(r.data.params["lr"]) > 1e6]
    healthy = [r for r in runs if float(r.data.params["lr"]) < 1]
    assert diverged and healthy  # the seed gives both
    for run in diverged:
        assert run.data.tags["tunelab.outcome"] == "failed"
        assert run.data.tags["tunelab.error"].startswith("non_finite_metric: ")
    for run in healthy:
        assert run.data.tags["tunelab.outcome"] in {"completed", "stopped_early"}
        assert 0 <= run.data.metrics["val_accuracy"] <= 1
    outcomes = {r.data.tags["tunelab.outcome"] for r in healthy}
    assert "completed" in outcomes
    assert report.counts["failed"] == len(diverged)

    # The best member's model is its own, and retrained alone it reaches what it logged.
    best = report.best["run_id"]
    assert best in {r.info.run_id for r in healthy} and report.best["metric"] > 0.5
    assert main(["reproduce", best, "--tracking-uri", store["tracking_uri"]]) == 0


LSTM_SPEC = """
name: e2e-fused-lstm
model: lstm
dataset: digits_rows
metric: val_accuracy
mode: max
budget: {trials: 3, max_epochs: 2, concurrency: 1}
scheduler: fifo
fusion: 3
space:
  lr: {type: float, low: 3.0e-3, high: 3.0e-2, log: true}
  hidden: {type: constant, value: 16}
  depth: {type: constant, value: 2}
  dropout: {type: float, low: 0.0, high: 0.3}
"""


def test_a_fused_recurrent_sweep_is_reported_on_and_promoted(
    ray_session, store, tmp_path: Path
) -> None:
    loaded = parse_spec(LSTM_SPEC, "lstm.yaml", {"--name": "e2e-fused-lstm"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    runs = children(store["tracking_uri"], "e2e-fused-lstm")
    assert {r.data.tags["tunelab.fused_group"] for r in runs} == {"group-000"}
    assert {r.data.tags["tunelab.outcome"] for r in runs} == {"completed"}
    assert len({r.data.metrics["train_loss"] for r in runs}) == 3  # each its own

    uri = store["tracking_uri"]
    best = report.best["run_id"]
    out = tmp_path / "report"
    assert main(["report", best, "--tracking-uri", uri, "--out", str(out),
                 "--examples", "24", "--methods", "saliency"]) == 0  # fmt: skip
    data = json.loads((out / best / "report.json").read_text())
    assert data["family"] == "sequences" and data["examples"] == 24
    assert main(["promote", "e2e-fused-lstm", "--model-name", "fused-lstm",
                 "--tracking-uri", uri]) == 0  # fmt: skip
    champion = MlflowClient(uri).get_model_version_by_alias("fused-lstm", "champion")
    assert champion.run_id == best


AUTO_SPEC = """
name: e2e-fused-auto
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 8, max_epochs: 1, concurrency: 1}
scheduler: fifo
fusion: auto
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  width: 32
  dropout: {type: float, low: 0.0, high: 0.3}
"""


def test_an_automatic_fusion_says_what_it_measured_and_runs_what_it_picked(
    ray_session, store, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = parse_spec(AUTO_SPEC, "auto.yaml", {"--name": "e2e-fused-auto"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    assert report.counts["completed"] == 8
    said = [line for line in capsys.readouterr().err.splitlines() if "fusion: auto" in line]
    assert len(said) == 1, said

    client = MlflowClient(store["tracking_uri"])
    tags = client.get_run(report.parent_run_id).data.tags
    measured = {int(k): v for k, v in json.loads(tags["tunelab.fusion_measured"]).items()}
    assert list(measured)[:2] == [1, 2] and set(measured) <= {1, 2, 4, 8}  # no group over 8
    assert all(rate > 0 for rate in measured.values())
    picked = tags["tunelab.fusion"]
    groups: dict[str, int] = defaultdict(int)
    for run in children(store["tracking_uri"], "e2e-fused-auto"):
        groups[run.data.tags.get("tunelab.fused_group", "")] += 1
    if picked == "off":  # fusing did not pay on this machine: every trial ran alone
        assert "runs the trials unfused" in said[0] and groups == {"": 8}
    else:  # groups of the size it said, in the searcher's order
        size = int(picked)
        assert f"picked groups of {size}:" in said[0]
        assert measured[size] >= 1.2 * measured[1]
        assert sorted(groups.values(), reverse=True) == [size] * (8 // size) + (
            [8 % size] if 8 % size else []
        )


TRAINER_LOSS_SPEC = """
name: e2e-fused-loss
model: cnn
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 2, max_epochs: 60, concurrency: 1}
searcher: random
scheduler: fifo
fusion: 2
space:
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  batch_size: 16
"""


def test_members_whose_group_process_dies_go_on_from_their_checkpoints(ray_session, store) -> None:
    """The process training a fused group is killed mid-sweep: the group restarts (Ray's
    retry), its members fused again, each from its last checkpoint, to the end, in the same
    run."""
    import os
    import signal
    import threading
    import time

    loaded = parse_spec(TRAINER_LOSS_SPEC, "loss.yaml", {"--name": "e2e-fused-loss"})
    outcome: dict = {}
    sweep = threading.Thread(
        target=lambda: outcome.update(
            report=run_sweep(loaded, stores=Stores.resolve(**store), live=False)
        )
    )
    sweep.start()
    client = MlflowClient(store["tracking_uri"])
    deadline = time.monotonic() + 240
    trained = 0
    while trained < 3:  # both members have recorded epochs (and checkpointed them)
        assert sweep.is_alive() and time.monotonic() < deadline, "the group never trained"
        runs = children(store["tracking_uri"], "e2e-fused-loss")
        histories = [client.get_metric_history(r.info.run_id, "val_accuracy") for r in runs]
        trained = min((len(h) for h in histories), default=0) if len(runs) == 2 else 0
        time.sleep(0.3)
    # One group, one process, whose two members train in it: the one its results name.
    pid = None
    while pid is None:
        assert time.monotonic() < deadline, "the group's results never reached its folder"
        for results in Path(store["results_dir"]).rglob("group-000/result.json"):
            lines = results.read_text().splitlines()
            pid = json.loads(lines[0])["pid"] if lines else None
        time.sleep(0.1)
    os.kill(int(pid), signal.SIGKILL)
    sweep.join(timeout=300)
    assert not sweep.is_alive()

    report = outcome["report"]
    assert report.counts["completed"] == 2, report.counts
    for run in children(store["tracking_uri"], "e2e-fused-loss"):
        assert run.data.tags["tunelab.retries"] == "1"
        assert run.data.tags["tunelab.retry_reason"].startswith("worker_crashed: ")
        resumed = int(run.data.tags["tunelab.resumed_at_epoch"])
        assert trained < resumed < 60  # it went on from a checkpoint, not from the start
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
        assert steps == list(range(1, 61))  # every epoch once: none lost, none twice


SIZE_SPEC = """
name: e2e-fused-size
model: mlp
dataset: digits
metric: val_accuracy
mode: max
budget: {trials: 4, max_epochs: 3, concurrency: 1}
searcher: {sampler: random}
scheduler: fifo
seed: SEED
fusion: 2
constraints: {param_count: {max: 3000}}
space:
  optimizer: {type: categorical, choices: [adam]}
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  width: {type: categorical, choices: [16, 64]}
  depth: {type: constant, value: 1}
"""


def test_a_fused_member_too_large_for_a_constraint_stops_at_its_first_epoch(
    ray_session, store
) -> None:
    loaded = parse_spec(SIZE_SPEC.replace("SEED", "1"), "size.yaml", {"--name": "e2e-fused-size"})
    report = run_sweep(loaded, stores=Stores.resolve(**store), live=False)
    client = MlflowClient(store["tracking_uri"])
    runs = children(store["tracking_uri"], "e2e-fused-size")
    assert len(runs) == 4
    too_large = [r for r in runs if r.data.metrics["param_count"] > 3000]
    small = [r for r in runs if r.data.metrics["param_count"] <= 3000]
    assert too_large and small  # the seed gives both widths
    for run in too_large:  # a width of 64: 4,810 parameters, stopped after one epoch
        assert run.data.tags["tunelab.outcome"] == "stopped_early"
        assert run.data.tags["tunelab.feasible"] == "false"
        assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 1
    for run in small:  # 1,210: trained to the end
        assert run.data.tags["tunelab.outcome"] == "completed"
        assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 3
    assert report.best["run_id"] in {r.info.run_id for r in small}
