"""The adding problem at T = 100: the contrast the recurrent families are known for.

Runs the ready specs `search_spaces/lstm_adding.yaml` and `search_spaces/rnn_adding.yaml` as
they are (the same budget, sampler and scheduler for both), in one in-process Ray, each into a
fresh MLflow store. Always predicting 1 scores an MSE of 1/6 (0.167); Hochreiter & Schmidhuber
(1997) show an LSTM solving the task where a vanilla RNN cannot carry the marked values across
100 steps. Goal: the best LSTM trial below 0.01, the best RNN trial near the baseline.

    .venv/bin/python benchmarks/adding.py [--trials 8] [--max-epochs 20]

The last line is a JSON object with both best MSEs, the baseline and the wall times.
"""

from __future__ import annotations

import sys

# This folder holds logging.py, the logging benchmark. Run as a script, a benchmark has this
# folder first on sys.path, where that file would stand in for the standard library's logging.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = {"lstm": "search_spaces/lstm_adding.yaml", "rnn": "search_spaces/rnn_adding.yaml"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="override the specs' trials")
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args()

    import ray

    from tunelab.data import datasets
    from tunelab.spec import load_spec
    from tunelab.sweeps import Stores, run_sweep

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    results: dict[str, dict[str, float]] = {}
    for family, path in SPECS.items():
        loaded = load_spec(
            REPO / path,
            {"--trials": args.trials, "--max-epochs": args.max_epochs, "--name": f"bench-{family}"},
        )
        options = dict(loaded.spec.dataset.options)
        with tempfile.TemporaryDirectory() as folder:
            os.chdir(folder)
            started = time.perf_counter()
            report = run_sweep(
                loaded,
                stores=Stores.resolve(
                    tracking_uri=f"sqlite:///{folder}/mlflow.db", results_dir=folder
                ),
                live=False,
            )
            wall = time.perf_counter() - started
        best = report.best["metric"] if report.best else float("nan")
        results[family] = {"best_val_mse": best, "wall_s": round(wall, 1), **report.counts}
        print(f"{family:>5}: best val_mse {best:.4f} in {wall:.0f} s  {report.counts}", flush=True)
    ray.shutdown()

    data = datasets.get("adding").load(**options)
    baseline = float(((data.val.y - 1.0) ** 2).mean())
    print(f"baseline (always 1): {baseline:.4f}")
    print(
        json.dumps(
            {
                "length": options.get("length"),
                "baseline_mse": round(baseline, 4),
                "lstm_best_mse": round(results["lstm"]["best_val_mse"], 5),
                "rnn_best_mse": round(results["rnn"]["best_val_mse"], 5),
                "lstm_below_0.01": results["lstm"]["best_val_mse"] < 0.01,
                "rnn_over_baseline": round(results["rnn"]["best_val_mse"] / baseline, 3),
                "wall_s": {k: v["wall_s"] for k, v in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
