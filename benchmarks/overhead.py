"""What tunelab costs on top of the training itself.

The same 16 short CNN-on-digits trials (one fixed config, a different seed each, one torch thread
each, 2 at a time) run three ways in one process:

  bare        a PyTorch script with a pool of 2 worker processes (no tracking, no checkpoints)
  tunelab     `run_sweep`: FIFO, concurrency 2, MLflow tracking and a checkpoint every epoch
  plain_tune  Ray Tune with its defaults plus Ray's MLflowLoggerCallback, checkpoint every epoch

Wall times exclude interpreter start. Ray is started once before the two Ray variants and its
start-up (reported separately) is outside both; each variant gets a fresh MLflow SQLite store whose
tables are created before the clock starts. The last line is a JSON object with the ratios.

    .venv/bin/python benchmarks/overhead.py [--trials 16] [--epochs 6]
        [--keep-checkpoints 1|null] [--skip-plain]

Where tunelab's time goes beyond bare (2-core machine, 16 trials of ~0.6 s): per epoch, nothing
measurable (an epoch with its report and checkpoint costs what the bare epoch costs). The rest is
start-up: each Ray Tune trial actor is a new worker process that imports Ray and registers (Ray
does not hand actors the idle workers it prestarts), then imports torch; Tune's controller takes
about two seconds to place the first trials; the driver imports ray.tune. Already removed: the
data set is shipped once through the object store; actors are reused across trials; one torch
thread per trial; MLflow writes are batched on a background thread; the MLflow model folder is
prepared while Ray starts; the driver never imports torch or scikit-learn.
"""

from __future__ import annotations

import sys

# This folder holds logging.py, the logging benchmark. Run as a script, a benchmark has this
# folder first on sys.path, where that file would stand in for the standard library's logging.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)

import argparse
import json
import math
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 3e-3,
    "batch_size": 64,
    "activation": "relu",
    "depth": 2,
    "channels": 16,
    "width": 64,
    "dropout": 0.1,
}


def _bare_worker_init() -> None:
    import torch

    torch.set_num_threads(1)
    global _DATA
    from tunelab.data import datasets

    _DATA = datasets.get("digits").load()


def _bare_trial(args: tuple[int, int]) -> float:
    from tunelab.models import architectures
    from tunelab.training import train

    seed, epochs = args
    last: dict[str, float] = {}
    train(
        {**CONFIG, "seed": seed},
        _DATA,
        architectures.get("cnn"),
        max_epochs=epochs,
        report=lambda e, m, s: last.update(m),
    )
    return last["val_accuracy"]


def bare(trials: int, epochs: int) -> float:
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(2, initializer=_bare_worker_init) as pool:
        pool.map(_bare_trial, [(seed, epochs) for seed in range(trials)], chunksize=1)
    return time.perf_counter() - started


def fresh_store(folder: Path, name: str) -> str:
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / name}.db"
    MlflowClient(uri).create_experiment("tunelab")  # creates the tables outside the timing
    return uri


def tunelab_run(trials: int, epochs: int, folder: Path, keep: str = "1") -> float:
    from tunelab.spec import parse_spec
    from tunelab.sweeps import run_sweep

    space = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in CONFIG.items())
    text = (
        "model: cnn\ndataset: digits\nmetric: val_accuracy\nmode: max\n"
        f"budget: {{trials: {trials}, max_epochs: {epochs}, concurrency: 2}}\n"
        f"scheduler: fifo\nsearcher: random\ncheckpoints: {{keep: {keep}}}\nspace:\n{space}\n"
    )
    loaded = parse_spec(text, "overhead.yaml", {"--name": "overhead"})
    uri = fresh_store(folder, "tunelab")
    started = time.perf_counter()
    report = run_sweep(loaded, tracking_uri=uri, results_dir=str(folder / "tunelab"), live=False)
    elapsed = time.perf_counter() - started
    assert report.counts["completed"] == trials, report.counts
    return elapsed


def _plain_trainable(config: dict[str, Any]) -> None:
    """What a user writes for Ray Tune: load the data, train, report and checkpoint each epoch."""
    import torch
    from ray import tune

    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training import train

    data = datasets.get("digits").load()

    def report(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as directory:
            torch.save(state, os.path.join(directory, "checkpoint.pt"))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    train(config, data, architectures.get("cnn"), max_epochs=config["epochs"], report=report)


def plain_tune(trials: int, epochs: int, folder: Path) -> float:
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    uri = fresh_store(folder, "plain")
    seeds = list(range(trials))
    tuner = tune.Tuner(
        _plain_trainable,
        param_space={**CONFIG, "epochs": epochs, "seed": tune.grid_search(seeds)},
        tune_config=tune.TuneConfig(metric="val_accuracy", mode="max"),
        run_config=tune.RunConfig(
            name="plain",
            storage_path=str(folder / "plain"),
            verbose=0,
            callbacks=[
                MLflowLoggerCallback(
                    tracking_uri=uri, experiment_name="tunelab", save_artifact=False
                )
            ],
        ),
    )
    started = time.perf_counter()
    grid = tuner.fit()
    elapsed = time.perf_counter() - started
    assert len(grid) == trials and not grid.errors
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--keep-checkpoints", default="1", help="tunelab's checkpoints.keep (null: every epoch's)"
    )
    parser.add_argument("--skip-plain", action="store_true", help="only bare and tunelab")
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare_s = bare(args.trials, args.epochs)
        started = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start_s = time.perf_counter() - started
        tunelab_s = tunelab_run(args.trials, args.epochs, folder, args.keep_checkpoints)
        plain_tune_s = math.nan if args.skip_plain else plain_tune(args.trials, args.epochs, folder)
        ray.shutdown()
    result = {
        "trials": args.trials,
        "epochs": args.epochs,
        "bare_s": round(bare_s, 2),
        "tunelab_s": round(tunelab_s, 2),
        "plain_tune_s": round(plain_tune_s, 2),
        "ray_start_s_excluded": round(ray_start_s, 2),
        "ratio_tunelab_vs_bare": round(tunelab_s / bare_s, 3),
        "ratio_plain_tune_vs_bare": round(plain_tune_s / bare_s, 3),
    }
    print(f"{'way':<12}{'wall s':>10}{'x bare':>10}")
    for way in ("bare", "tunelab", "plain_tune"):
        print(f"{way:<12}{result[way + '_s']:>10.2f}{result[way + '_s'] / bare_s:>10.2f}")
    print(f"(Ray start-up, outside both Ray timings: {ray_start_s:.2f} s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
