"""Fused trials against one trial at a time, on the CPU, two ways.

The engine (default): the same N configs of the MLP, then of the CNN, on the digits (one
architecture and batch size per model; each config its own learning rate, weight decay, dropout
rate and seed) are trained for E epochs, in one process, one torch thread:

  alone   `train_supervised`, one config after another (what each unfused trial runs)
  fused   `train_fused`, groups of K configs (K = 4, 8, 16 by default)

Both report validation metrics, latency and a checkpoint state every epoch, per config.

Sweeps (`--sweeps`): the same N trials as whole tunelab sweeps, `run_sweep` with Ray, MLflow
tracking and a checkpoint every epoch: the architecture fixed by constants, each trial's own lr,
weight decay, dropout and seed sampled at random (the same seed: the same configs), FIFO, every
trial trained E epochs. Unfused: 2 trials at a time, one CPU each; fused: 2 groups at a time,
one CPU each. Ray is started once, outside every timing; each sweep gets a fresh MLflow store.

The last line is a JSON object with the wall times and the ratios.

    .venv/bin/python benchmarks/fusion.py [--configs 64] [--epochs 5] [--sizes 4 8 16]
        [--models mlp cnn] [--sweeps]
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)  # this folder's logging.py must not stand in for the standard library's

import argparse
import json
import random
import time
from typing import Any

SHARED = {
    "mlp": {"depth": 2, "width": 128, "activation": "relu", "batch_size": 64, "optimizer": "adam"},
    "cnn": {"depth": 2, "channels": 16, "width": 64, "activation": "relu", "batch_size": 64,
            "optimizer": "adam"},
}  # fmt: skip


def configs(model: str, n: int) -> list[dict[str, Any]]:
    rng = random.Random(0)
    return [
        {
            **SHARED[model],
            "lr": 10 ** rng.uniform(-4, -2),
            "weight_decay": 10 ** rng.uniform(-6, -3),
            "dropout": rng.uniform(0.0, 0.5),
            "grad_clip": 0.0,
            "seed": i,
        }
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--sweeps", action="store_true", help="whole tunelab sweeps instead")
    args = parser.parse_args()
    if args.sweeps:
        sweeps(args)
        return

    import torch

    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training._fused import train_fused
    from tunelab.training._supervised import train_supervised

    torch.set_num_threads(1)
    data = datasets.get("digits").load()
    results = {}
    for model in args.models:
        arch = architectures.get(model)
        todo = configs(model, args.configs)
        best: dict[str, float] = {}

        def keep(name: str, best: dict[str, float] = best) -> Any:
            def report(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
                best[name] = max(best.get(name, 0.0), metrics["val_accuracy"])

            return report

        # Warm-up, untimed: torch's first use of each kernel, for both ways.
        train_supervised(todo[0], data, arch, max_epochs=1, report=keep("warm"))
        train_fused(todo[:2], data, arch, max_epochs=1, reports=[keep("warm")] * 2)
        started = time.perf_counter()
        for i, config in enumerate(todo):
            train_supervised(config, data, arch, max_epochs=args.epochs, report=keep(f"alone{i}"))
        times = {"alone": time.perf_counter() - started}
        for size in args.sizes:
            started = time.perf_counter()
            for first in range(0, len(todo), size):
                group = todo[first : first + size]
                reports = [keep(f"fused{size}-{first + j}") for j in range(len(group))]
                train_fused(group, data, arch, max_epochs=args.epochs, reports=reports)
            times[f"fused_{size}"] = time.perf_counter() - started
        rows = {
            way: {
                "wall_s": round(seconds, 2),
                "trials_per_hour": round(len(todo) * 3600 / seconds),
                "x_alone": round(times["alone"] / seconds, 2),
            }
            for way, seconds in times.items()
        }
        for way, row in rows.items():
            print(f"{model} {way:>9}: {row['wall_s']:8.2f} s  {row['trials_per_hour']:7d} "
                  f"trials/h  {row['x_alone']:5.2f}x alone")  # fmt: skip
        # How far each config's best accuracy fused is from alone (the engine's equivalence).
        gap = max(
            abs(best[f"fused{size}-{i}"] - best[f"alone{i}"])
            for size in args.sizes
            for i in range(len(todo))
        )
        results[model] = {"ways": rows, "largest_accuracy_gap": round(gap, 4)}
    print(json.dumps({"configs": args.configs, "epochs": args.epochs, "models": results}))


SWEEP_SPEC = """
model: {model}
dataset: digits
metric: val_accuracy
mode: max
budget: {{trials: {trials}, max_epochs: {epochs}, concurrency: 2}}
searcher: random
scheduler: fifo
seed: 0
system_metrics: {{interval_s: 0}}
{fusion}
space:
{constants}
  lr: {{type: float, low: 1.0e-4, high: 1.0e-2, log: true}}
  weight_decay: {{type: float, low: 1.0e-6, high: 1.0e-3, log: true}}
  dropout: {{type: float, low: 0.0, high: 0.5}}
"""


def sweep_seconds(model: str, trials: int, epochs: int, size: int | None, folder: Any) -> float:
    from mlflow import MlflowClient

    from tunelab.spec import parse_spec
    from tunelab.sweeps import Stores, run_sweep

    way = f"fused{size}" if size else "unfused"
    constants = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in SHARED[model].items())
    text = SWEEP_SPEC.format(
        model=model,
        trials=trials,
        epochs=epochs,
        fusion=f"fusion: {size}" if size else "",
        constants=constants,
    )
    loaded = parse_spec(text, f"{way}.yaml", {"--name": f"{model}-{way}"})
    uri = f"sqlite:///{folder}/{model}-{way}.db"
    MlflowClient(uri).create_experiment("tunelab")  # the tables, outside the timing
    started = time.perf_counter()
    report = run_sweep(
        loaded, stores=Stores.resolve(tracking_uri=uri, results_dir=f"{folder}/results"), live=False
    )
    elapsed = time.perf_counter() - started
    assert report.counts["completed"] == trials, report.counts
    return elapsed


def sweeps(args: argparse.Namespace) -> None:
    import os
    import tempfile

    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            times = {"unfused": sweep_seconds(model, args.configs, args.epochs, None, folder)}
            for size in args.sizes:
                times[f"fused_{size}"] = sweep_seconds(
                    model, args.configs, args.epochs, size, folder
                )
            rows = {
                way: {
                    "wall_s": round(seconds, 2),
                    "trials_per_hour": round(args.configs * 3600 / seconds),
                    "x_unfused": round(times["unfused"] / seconds, 2),
                }
                for way, seconds in times.items()
            }
            for way, row in rows.items():
                print(f"{model} {way:>9}: {row['wall_s']:8.2f} s  {row['trials_per_hour']:7d} "
                      f"trials/h  {row['x_unfused']:5.2f}x unfused")  # fmt: skip
            results[model] = rows
    ray.shutdown()
    print(json.dumps({"sweeps": True, "configs": args.configs, "epochs": args.epochs,
                      "models": results}))  # fmt: skip


if __name__ == "__main__":
    main()
