"""What tunelab costs on top of the training itself.

The same short CNN-on-digits trials (16, then 64) (one fixed config, a different seed each, one torch thread
each, 2 at a time) run three ways in one process:

  bare        a PyTorch script with a pool of 2 worker processes (no tracking, no checkpoints)
  tunelab     `run_sweep`: FIFO, concurrency 2, MLflow tracking and a checkpoint every epoch
  plain_tune  Ray Tune with its defaults plus Ray's MLflowLoggerCallback, checkpoint every epoch
  fused       with --fusion K: tunelab again, the trials fused K at a time (2 groups at a time),
              each still its own Optuna trial, MLflow run and checkpoints

Wall times exclude interpreter start. Ray is started once before the two Ray variants and its
start-up (reported separately) is outside both; each variant gets a fresh MLflow SQLite store whose
tables are created before the clock starts. The last line is a JSON object with the ratios.

    .venv/bin/python benchmarks/overhead.py [--trials 16 64] [--epochs 6]
        [--keep-checkpoints 1|null] [--plain-at 16] [--skip-plain] [--fusion K]

At each trial count: wall times, the ratio to bare, and the time until the first trial's first
epoch ended (bare: in its worker; tunelab: when the driver got the result). Across the counts:
what one more trial costs, the slope between the first and the last count.

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
    """Train one trial; the wall-clock time (time.time) its first epoch ended."""
    from tunelab.models import architectures
    from tunelab.training import train

    seed, epochs = args
    first: list[float] = []

    def report(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
        if not first:
            first.append(time.time())

    train(
        {**CONFIG, "seed": seed},
        _DATA,
        architectures.get("cnn"),
        max_epochs=epochs,
        report=report,
    )
    return first[0]


def bare(trials: int, epochs: int) -> tuple[float, float]:
    """Wall seconds for all trials, and until the first trial's first epoch ended."""
    started, wall = time.perf_counter(), time.time()
    with mp.get_context("spawn").Pool(2, initializer=_bare_worker_init) as pool:
        firsts = pool.map(_bare_trial, [(seed, epochs) for seed in range(trials)], chunksize=1)
    return time.perf_counter() - started, min(firsts) - wall


def fresh_store(folder: Path, name: str) -> str:
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / name}.db"
    MlflowClient(uri).create_experiment("tunelab")  # creates the tables outside the timing
    return uri


def tunelab_run(
    trials: int, epochs: int, folder: Path, keep: str = "1", fusion: int | None = None
) -> tuple[float, float]:
    """Wall seconds of `run_sweep`, and until the sweep got its first trial's first result."""
    from tunelab.spec import parse_spec
    from tunelab.sweeps import Stores, _recorder, run_sweep

    space = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in CONFIG.items())
    text = (
        "model: cnn\ndataset: digits\nmetric: val_accuracy\nmode: max\n"
        f"budget: {{trials: {trials}, max_epochs: {epochs}, concurrency: 2}}\n"
        f"scheduler: fifo\nsearcher: random\ncheckpoints: {{keep: {keep}}}\nspace:\n{space}\n"
        + (f"fusion: {fusion}\n" if fusion else "")
    )
    label = f"{trials}-fused{fusion}" if fusion else str(trials)
    loaded = parse_spec(text, "overhead.yaml", {"--name": f"overhead-{label}"})
    uri = fresh_store(folder, f"tunelab-{label}")
    # When the driver hears of the first result (the recorder is where every result arrives).
    first: list[float] = []
    recorder = _recorder.SweepRecorder
    original = recorder.trial_result

    def noted(self: Any, trial_id: str, result: Any) -> None:
        if not first:
            first.append(time.perf_counter())
        original(self, trial_id, result)

    recorder.trial_result = noted  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        report = run_sweep(
            loaded,
            stores=Stores.resolve(tracking_uri=uri, results_dir=str(folder / f"tunelab-{label}")),
            live=False,
        )
    finally:
        recorder.trial_result = original  # type: ignore[method-assign]
    elapsed = time.perf_counter() - started
    assert report.counts["completed"] == trials, report.counts
    return elapsed, first[0] - started


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
    parser.add_argument("--trials", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--keep-checkpoints", default="1", help="tunelab's checkpoints.keep (null: every epoch's)"
    )
    parser.add_argument(
        "--plain-at",
        type=int,
        nargs="*",
        default=[16],
        help="the trial counts plain Ray Tune also runs at (it takes minutes at 64)",
    )
    parser.add_argument("--skip-plain", action="store_true", help="only bare and tunelab")
    parser.add_argument(
        "--fusion",
        type=int,
        default=None,
        help="also run tunelab with the trials fused K at a time",
    )
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bares = {n: bare(n, args.epochs) for n in args.trials}
        started = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start_s = time.perf_counter() - started
        for n in args.trials:
            tunelab_s, tunelab_first_s = tunelab_run(n, args.epochs, folder, args.keep_checkpoints)
            plain = not args.skip_plain and n in args.plain_at
            plain_s = plain_tune(n, args.epochs, folder) if plain else math.nan
            fused_s, fused_first_s = (
                tunelab_run(n, args.epochs, folder, args.keep_checkpoints, args.fusion)
                if args.fusion
                else (math.nan, math.nan)
            )
            bare_s, bare_first_s = bares[n]
            rows.append(
                {
                    "trials": n,
                    "bare_s": round(bare_s, 2),
                    "tunelab_s": round(tunelab_s, 2),
                    "plain_tune_s": round(plain_s, 2),
                    "ratio_tunelab_vs_bare": round(tunelab_s / bare_s, 3),
                    "ratio_plain_tune_vs_bare": round(plain_s / bare_s, 3),
                    "first_result_bare_s": round(bare_first_s, 2),
                    "first_result_tunelab_s": round(tunelab_first_s, 2),
                    **(
                        {
                            "fused_s": round(fused_s, 2),
                            "ratio_fused_vs_bare": round(fused_s / bare_s, 3),
                            "first_result_fused_s": round(fused_first_s, 2),
                        }
                        if args.fusion
                        else {}
                    ),
                }
            )
        ray.shutdown()
    result: dict[str, Any] = {
        "epochs": args.epochs,
        "fusion": args.fusion,
        "ray_start_s_excluded": round(ray_start_s, 2),
        "runs": rows,
    }
    print(f"{'trials':>6}{'bare s':>9}{'tunelab s':>11}{'x bare':>8}{'plain s':>9}{'x bare':>8}"
          f"{'1st result: bare s':>20}{'tunelab s':>11}")  # fmt: skip
    for r in rows:
        print(
            f"{r['trials']:>6}{r['bare_s']:>9.2f}{r['tunelab_s']:>11.2f}"
            f"{r['ratio_tunelab_vs_bare']:>8.2f}{r['plain_tune_s']:>9.2f}"
            f"{r['ratio_plain_tune_vs_bare']:>8.2f}{r['first_result_bare_s']:>20.2f}"
            f"{r['first_result_tunelab_s']:>11.2f}"
        )
        if args.fusion:
            print(
                f"{'':>6}fused by {args.fusion}: {r['fused_s']:.2f} s "
                f"({r['ratio_fused_vs_bare']:.2f}x bare), first result {r['first_result_fused_s']:.2f} s"
            )
    if len(rows) >= 2:  # what one more trial costs: the slope between the first and last counts
        low, high = rows[0], rows[-1]
        extra = high["trials"] - low["trials"]
        bare_per = (high["bare_s"] - low["bare_s"]) / extra
        tunelab_per = (high["tunelab_s"] - low["tunelab_s"]) / extra
        result["marginal_s_per_trial"] = {
            "bare": round(bare_per, 4),
            "tunelab": round(tunelab_per, 4),
            "ratio": round(tunelab_per / bare_per, 3),
        }
        if args.fusion:
            fused_per = (high["fused_s"] - low["fused_s"]) / extra
            result["marginal_s_per_trial"]["fused"] = round(fused_per, 4)
            result["marginal_s_per_trial"]["ratio_fused"] = round(fused_per / bare_per, 3)
        print(
            f"one more trial: bare {bare_per:.3f} s, tunelab {tunelab_per:.3f} s "
            f"({tunelab_per / bare_per:.2f}x), from {low['trials']} to {high['trials']} trials"
        )
    print(f"(Ray start-up, outside both Ray timings: {ray_start_s:.2f} s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
