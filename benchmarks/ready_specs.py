"""Every ready spec in search_spaces/, run as it is, one after another in one in-process Ray,
each into a fresh MLflow store: its wall time and the best trial's metric.

    .venv/bin/python benchmarks/ready_specs.py [--only NAME ...]

The last line is a JSON object: per spec, wall seconds, the metric, its best value, and the
trial counts.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="spec file stems, e.g. cnn_digits")
    args = parser.parse_args()

    import ray

    from tunelab.spec import load_spec
    from tunelab.sweeps import Stores, run_sweep

    specs = sorted((REPO / "search_spaces").glob("*.yaml"))
    if args.only:
        specs = [s for s in specs if s.stem in args.only]
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    results = {}
    for path in specs:
        loaded = load_spec(path, {"--name": f"ready-{path.stem}"})
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
        best = report.best["metric"] if report.best else None
        results[path.stem] = {
            "wall_s": round(wall, 1),
            "metric": loaded.spec.metric,
            "best": float(f"{best:.4g}") if best is not None else None,
            "trials": report.counts,
        }
        print(f"{path.stem:<22} {wall:6.0f} s  best {loaded.spec.metric} {best}", flush=True)
    ray.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
