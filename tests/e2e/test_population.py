"""Population based training: a trial in the population's bottom goes on from a better trial's
checkpoint with explored hyperparameters, and its run records that faithfully: the lineage in
its tags, the hyperparameters it trained each epoch with as metrics, and weights that are the
other trial's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from tunelab.errors import TunelabError
from tunelab.promotion import reproduce
from tunelab.spec import parse_spec
from tunelab.sweeps import Stores, run_sweep

pytestmark = pytest.mark.e2e

# Learning rates far apart: the trials at 1e-5 stay at the bottom and exploit the others.
SPEC = """
model: mlp
dataset: wine
metric: val_accuracy
mode: max
seed: 3
budget: {trials: 4, max_epochs: 24, concurrency: 4}
resources: {cpu: 0.5}
searcher: random
scheduler: {type: pbt, interval: 2, quantile: 0.5, resample_probability: 0.0}
checkpoints: {keep: null}
system_metrics: {interval_s: 0}
space:
  lr: {type: categorical, choices: [0.00001, 0.00003, 0.03, 0.1]}  # seed 3: 3e-5 twice
  width: 16
  batch_size: 16
  dropout: 0.0
"""


def history(client: MlflowClient, run_id: str, metric: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, metric)]


def written(checkpoint: Path) -> float:
    """When a checkpoint folder's file was last written (a folder's own time does not change
    when Ray writes a reused folder's files again)."""
    return (checkpoint / "checkpoint.pt").stat().st_mtime


def test_an_exploited_trial_goes_on_from_the_others_weights(ray_session, store) -> None:
    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training import load_checkpoint, train

    report = run_sweep(
        parse_spec(SPEC, "pbt.yaml", {"--name": "e2e-pbt"}), stores=Stores.resolve(**store)
    )
    assert report.counts["completed"] == 4, report.counts
    client = MlflowClient(store["tracking_uri"])
    runs = {r.info.run_name: r for r in client.search_runs([report.experiment_id])}
    firsts = [
        (r, json.loads(r.data.tags["tunelab.exploit.1"]))
        for r in runs.values()
        if int(r.data.tags.get("tunelab.exploits", "0"))
    ]
    exploits = [
        (r, n, json.loads(r.data.tags[f"tunelab.exploit.{n}"]))
        for r in runs.values()
        for n in range(1, int(r.data.tags.get("tunelab.exploits", "0")) + 1)
    ]
    for r, _, e in exploits:
        assert e["source"] in runs and e["source"] != r.info.run_name
        assert e["epoch"] % 2 == 0 and e["source_epoch"] % 2 == 0  # at the end of an interval
    # One that goes on training: a source at its last epoch leaves nothing to train.
    going_on = [(r, e) for r, e in firsts if e["source_epoch"] < 24]
    assert going_on, f"no trial exploited another before its last epoch: {firsts}"
    run, first = going_on[0]
    source, epoch, source_epoch = first["source"], first["epoch"], first["source_epoch"]
    torch.set_num_threads(1)
    data = datasets.get("wine").load()

    # The schedule recorded is what it trained with: its own lr up to the exploit, then the
    # explored one from the epoch after the source's (those epochs are recorded again).
    own_lr, new_lr = float(run.data.params["lr"]), float(first["config"]["lr"])
    lrs = history(client, run.info.run_id, "hp/lr")
    assert {s for s, v in lrs if v == pytest.approx(own_lr)} >= set(range(1, epoch + 1))
    assert source_epoch + 1 in {s for s, v in lrs if v == pytest.approx(new_lr)}
    assert new_lr == float(runs[source].data.params["lr"]) or 0.00001 <= new_lr <= 0.1

    # The weights: each exploit's copy is the source's checkpoint, and the trial's next epoch
    # trained from that copy with the exploit's config. (Ray reuses a trial's checkpoint folder
    # names after a restore, so a folder is trusted only if not rewritten since.)
    folder = Path(report.results_dir)
    copies = continued = 0
    for r, n, exploit in exploits:
        trial = folder / r.info.run_name
        copied = trial / f"checkpoint_exploit_{n:03d}"
        copy = load_checkpoint(copied)
        assert copy["epoch"] == exploit["source_epoch"]
        theirs = folder / exploit["source"] / exploit["source_checkpoint"]
        if written(theirs) <= written(copied):
            original = load_checkpoint(theirs)
            assert original["epoch"] == exploit["source_epoch"]
            for name, tensor in original["model_state"].items():
                assert torch.equal(copy["model_state"][name], tensor), name
            copies += 1
        following = trial / f"checkpoint_exploit_{n + 1:03d}"
        later = written(following) if following.exists() else float("inf")
        nexts = sorted(
            (written(d), d)
            for d in trial.glob("checkpoint_0*")
            if written(copied) < written(d) < later
            and (d / "epoch").read_text() == str(exploit["source_epoch"] + 1)
        )
        if not nexts:
            continue  # nothing left to train, or its folder was reused since
        config = {k: v for k, v in exploit["config"].items() if not k.startswith("tunelab_")}
        states: list[dict] = []
        train(
            config,
            data,
            architectures.get("mlp"),
            max_epochs=exploit["source_epoch"] + 1,
            report=lambda e, m, state, into=states: into.append(state),
            restore=copy,
        )
        for name, tensor in load_checkpoint(nexts[0][1])["model_state"].items():
            assert torch.allclose(states[-1]["model_state"][name], tensor, rtol=1e-5, atol=1e-7)
        continued += 1
    assert copies and continued, (copies, continued)

    # The sweep's views draw the population, with the same lineage its runs record.
    views = Path(client.download_artifacts(report.parent_run_id, "views", str(folder.parent)))
    run = runs[run.info.run_name]
    assert (views / "population.png").stat().st_size > 10_000
    drawn = json.loads((views / "population.json").read_text())["trials"]
    assert drawn[run.info.run_name]["lineage"][0] == first
    epochs = {e["epoch"] for e in drawn[run.info.run_name]["schedule"]}
    assert epochs >= {*range(1, epoch + 1), source_epoch}

    # Its config from the start cannot reproduce it, and `reproduce` says so rather than fail.
    with pytest.raises(TunelabError, match="went on from other trials' checkpoints"):
        reproduce(run.info.run_id, tracking_uri=store["tracking_uri"])


# With the default retention (the best checkpoint and the latest, and here the one PBT hands
# an exploiting trial): exploits still find the source's checkpoint. 12 epochs, five
# perturbations: pb2 fits a GP at each. Synchronous: epochs of milliseconds and trials whose
# processes start a second or more apart would otherwise leave the population a trial at a
# time, and this test needs exploits.
PB2_SPEC = (
    SPEC.replace("type: pbt", "type: pb2")
    .replace("max_epochs: 24", "max_epochs: 12")
    .replace("checkpoints: {keep: null}\n", "")
    .replace("quantile: 0.5, resample_probability: 0.0", "quantile: 0.5, synchronous: true")
    .replace(
        "lr: {type: categorical, choices: [0.00001, 0.00003, 0.03, 0.1]}  # seed 3: 3e-5 twice",
        "lr: {type: float, low: 0.00001, high: 0.1, log: true}",
    )
)


def test_pb2_explores_within_the_range_it_was_given(ray_session, store) -> None:
    report = run_sweep(
        parse_spec(PB2_SPEC, "pb2.yaml", {"--name": "e2e-pb2"}), stores=Stores.resolve(**store)
    )
    assert report.counts["completed"] == 4, report.counts
    client = MlflowClient(store["tracking_uri"])
    trials = [r for r in client.search_runs([report.experiment_id]) if r.info.run_name != "e2e-pb2"]
    lrs = [v for r in trials for _, v in history(client, r.info.run_id, "hp/lr")]
    assert lrs and all(0.00001 <= lr <= 0.1 for lr in lrs)
    exploits = [
        json.loads(r.data.tags[f"tunelab.exploit.{n}"])
        for r in trials
        for n in range(1, int(r.data.tags.get("tunelab.exploits", "0")) + 1)
    ]
    # Synchronous: the bottom half exploits at every interval, the population together.
    assert {e["epoch"] for e in exploits} >= {2, 4, 6, 8, 10}, exploits
    assert all(0.00001 <= e["config"]["lr"] <= 0.1 for e in exploits)
    for r in trials:  # each exploit's copy is in the trial's folder
        for n in range(1, int(r.data.tags.get("tunelab.exploits", "0")) + 1):
            copied = Path(report.results_dir) / r.info.run_name / f"checkpoint_exploit_{n:03d}"
            assert (copied / "checkpoint.pt").is_file()


# The GAN under PBT: a generator whose learning rate is far too small stays at the bottom and
# exploits the others; its discriminator's dropout is explored with it. Synchronous, as PB2's.
GAN_SPEC = """
model: gan
dataset: digits
metric: frechet_distance
mode: min
seed: 0
budget: {trials: 4, max_epochs: 6, concurrency: 4}
resources: {cpu: 0.5}
searcher: random
scheduler: {type: pbt, interval: 2, quantile: 0.5, resample_probability: 0.0, synchronous: true}
checkpoints: {keep: null}
system_metrics: {interval_s: 0}
space:
  lr_g: {type: categorical, choices: [0.000001, 0.000003, 0.002, 0.005]}
  d_dropout: {type: float, low: 0.0, high: 0.3}
  batch_size: 64
  g_width: 64
  d_width: 32
  latent_size: 8
  depth: 1
"""


def test_a_gan_under_pbt_exploits_with_both_networks_and_records_its_schedule(
    ray_session, store
) -> None:
    from tunelab.training import load_checkpoint

    report = run_sweep(
        parse_spec(GAN_SPEC, "gan-pbt.yaml", {"--name": "e2e-gan-pbt"}),
        stores=Stores.resolve(**store),
    )
    assert report.counts["completed"] == 4, report.counts
    client = MlflowClient(store["tracking_uri"])
    runs = {
        r.info.run_name: r
        for r in client.search_runs([report.experiment_id])
        if r.info.run_name != "e2e-gan-pbt"
    }
    exploits = [
        (r, n, json.loads(r.data.tags[f"tunelab.exploit.{n}"]))
        for r in runs.values()
        for n in range(1, int(r.data.tags.get("tunelab.exploits", "0")) + 1)
    ]
    # Synchronous: the bottom half exploits at every interval, the population together.
    assert {e["epoch"] for _, _, e in exploits} >= {2, 4}, exploits
    folder = Path(report.results_dir)
    for run, n, exploit in exploits:
        # Explored within the space: lr_g moves to a neighbouring choice of the one the source
        # trained that epoch with (which is not its first if it exploited another before), and
        # d_dropout by a factor.
        source = runs[exploit["source"]]
        choices = [0.000001, 0.000003, 0.002, 0.005]
        assert exploit["config"]["lr_g"] in choices
        moved = choices.index(exploit["config"]["lr_g"])
        trained = [
            choices.index(min(choices, key=lambda c, v=v: abs(c - v)))
            for step, v in history(client, source.info.run_id, "hp/lr_g")
            if step == exploit["source_epoch"]
        ]
        assert trained and any(abs(moved - t) <= 1 for t in trained), (exploit, trained)
        assert 0.0 <= exploit["config"]["d_dropout"] <= 0.3
        # Its copy holds the source's generator and discriminator as of that epoch.
        copy = load_checkpoint(folder / run.info.run_name / f"checkpoint_exploit_{n:03d}")
        assert copy["epoch"] == exploit["source_epoch"]
        networks = {name.split(".")[0] for name in copy["model_state"]}
        assert networks == {"generator", "discriminator"}
    # The schedule recorded: after each exploit, the epoch after its source's was trained (and
    # recorded) with the explored values; an epoch trained again after a later exploit is
    # recorded again, so the explored value is among that epoch's.
    checked = 0
    for run, _, exploit in exploits:
        after = exploit["source_epoch"] + 1
        if after > 6:
            continue  # nothing left to train
        for name in ("lr_g", "d_dropout"):
            values = [
                v for step, v in history(client, run.info.run_id, f"hp/{name}") if step == after
            ]
            assert exploit["config"][name] in [pytest.approx(v) for v in values], name
        checked += 1
    assert checked, f"no trial trained on after an exploit: {[e for _, _, e in exploits]}"
