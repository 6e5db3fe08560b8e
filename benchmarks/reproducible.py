"""What `searcher.reproducible` costs in wall time, and what it buys: the same seeded sweep
(the CNN on the digits, TPE with 4 start-up trials, ASHA, 4 epochs) at 2, 4 and 8 trials at
once, run twice with the setting off and twice with it on, alternately, in one Ray started once
(outside every timing), each sweep with a fresh MLflow store. Each trial holds 2/concurrency
CPUs, so every concurrency fills the same two cores.

Reported per concurrency: the median wall time off and on and their ratio, and whether the two
runs of each recorded the same trials (configs, outcome, epochs, result).

    .venv/bin/python benchmarks/reproducible.py [--trials 16] [--concurrency 2 4 8]

The last line is a JSON object with the numbers.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)  # this folder's logging.py must not stand in for the standard library's

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

SPEC = """
model: cnn
dataset: digits
metric: val_accuracy
mode: max
seed: 3
budget: {{trials: {trials}, max_epochs: 4, concurrency: {concurrency}}}
resources: {{cpu: {cpu}}}
searcher: {{sampler: tpe, startup_trials: 4, reproducible: {reproducible}}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
system_metrics: {{interval_s: 0}}
checkpoints: {{keep: 1}}
space:
  lr: {{type: float, low: 1.0e-3, high: 1.0e-1, log: true}}
  channels: {{type: int, low: 8, high: 32, step: 8}}
  width: {{type: int, low: 16, high: 64, log: true}}
  batch_size: 64
"""


def sweep(folder: Path, name: str, trials: int, concurrency: int, reproducible: bool) -> tuple:
    """One sweep: its wall seconds and what it recorded, trial by trial."""
    from mlflow import MlflowClient

    from tunelab.spec import parse_spec
    from tunelab.sweeps import Stores, run_sweep

    text = SPEC.format(
        trials=trials,
        concurrency=concurrency,
        cpu=2 / concurrency,
        reproducible=str(reproducible).lower(),
    )
    uri = f"sqlite:///{folder / name}.db"
    report = run_sweep(
        parse_spec(text, f"{name}.yaml", {"--name": name}),
        stores=Stores.resolve(tracking_uri=uri, results_dir=str(folder / "results")),
        live=False,
    )
    client = MlflowClient(uri)
    runs = client.search_runs([report.experiment_id], "tags.`tunelab.role` = 'trial'")
    recorded: dict[str, Any] = {
        r.info.run_name: (
            sorted((k, v) for k, v in r.data.params.items() if k in ("lr", "channels", "width")),
            r.data.tags.get("tunelab.outcome"),
            len(client.get_metric_history(r.info.run_id, "val_accuracy")),
            r.data.metrics.get("val_accuracy"),
        )
        for r in runs
    }
    return report.wall_s, recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 4, 8])
    args = parser.parse_args()

    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    folder = Path(tempfile.mkdtemp(prefix="tunelab-reproducible-"))
    table: dict[str, Any] = {}
    for concurrency in args.concurrency:
        walls: dict[bool, list[float]] = {False: [], True: []}
        records: dict[bool, list[Any]] = {False: [], True: []}
        for run in range(2):
            for reproducible in (False, True):
                name = f"c{concurrency}-{'on' if reproducible else 'off'}-{run}"
                wall, recorded = sweep(folder, name, args.trials, concurrency, reproducible)
                walls[reproducible].append(wall)
                records[reproducible].append(recorded)
                print(f"{name}: {wall:.1f} s", file=sys.stderr, flush=True)
        off, on = statistics.median(walls[False]), statistics.median(walls[True])
        table[str(concurrency)] = {
            "wall_s_off": round(off, 2),
            "wall_s_on": round(on, 2),
            "on_over_off": round(on / off, 3),
            "off_runs_agree": records[False][0] == records[False][1],
            "on_runs_agree": records[True][0] == records[True][1],
        }
        print(json.dumps({concurrency: table[str(concurrency)]}), file=sys.stderr, flush=True)
    ray.shutdown()
    print(json.dumps({"trials": args.trials, "by_concurrency": table}))


if __name__ == "__main__":
    main()
