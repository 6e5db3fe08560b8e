"""Does tunelab's default search beat random search at the same compute?

For each ready spec in search_spaces/ (at a reduced budget), and each seed:

  tunelab   the spec with its `searcher` and `scheduler` removed: tunelab's defaults;
  random    `searcher: random`, `scheduler: fifo`.

Both get the same trials, epochs per trial and concurrency. Compute is counted in epochs
trained, not trials (ASHA stops trials early, so tunelab's trials are cheaper). Every epoch's
validation metric counts as an observation, since every epoch is checkpointed and its model
can be kept; the best so far is taken in the order the epochs were reported.

Per spec it reports:
  - ratio: the epochs tunelab needed to reach random's final best, over random's total epochs
    (inf when it never did); the median and the worst seed;
  - at equal compute (the smaller of the two totals): each method's best so far, per seed, and
    how many seeds tunelab was at least as good.

Goals: tunelab at least as good as random in every seed; median ratio at most 0.25.

    .venv/bin/python benchmarks/search.py [--specs mlp_wine,cnn_digits] [--seeds 5]
        [--trials 12] [--max-epochs 6]

The adding-problem specs run on a shorter, smaller task (length 30, 2,000 sequences) to fit.
The last line is a JSON object with the per-spec figures.
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
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SMALLER_DATA = {"adding": {"length": 30, "size": 2000}}


def variant(text: str, method: str, *, seed: int, trials: int, max_epochs: int) -> str:
    spec = yaml.safe_load(text)
    spec.pop("searcher", None)
    spec.pop("scheduler", None)
    if method == "random":
        spec["searcher"], spec["scheduler"] = "random", "fifo"
    spec["budget"] = {
        "trials": min(trials, spec["budget"]["trials"]),
        "max_epochs": min(max_epochs, spec["budget"]["max_epochs"]),
        "concurrency": 2,
    }
    spec["seed"] = seed
    spec["system_metrics"] = {"interval_s": 0}
    dataset = spec["dataset"]
    name = dataset if isinstance(dataset, str) else dataset.get("name")
    if name in SMALLER_DATA:
        options = dataset.get("options", {}) if isinstance(dataset, dict) else {}
        spec["dataset"] = {"name": name, "options": {**options, **SMALLER_DATA[name]}}
    spec.pop("name", None)
    return yaml.safe_dump(spec, sort_keys=False)


def observations(tracking_uri: str, sweep: str, metric: str) -> list[float]:
    """Every epoch's metric across the sweep's trials, in the order they were reported."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, f"tags.`tunelab.sweep` = '{sweep}' AND tags.`tunelab.role` = 'trial'"
    )
    points = []
    for run in runs:
        for m in client.get_metric_history(run.info.run_id, metric):
            points.append((m.timestamp, m.step, run.info.run_id, m.value))
    points.sort()
    return [value for *_, value in points]


def best_so_far(values: list[float], mode: str) -> list[float]:
    out, best = [], -math.inf if mode == "max" else math.inf
    for value in values:
        if math.isfinite(value):
            best = max(best, value) if mode == "max" else min(best, value)
        out.append(best)
    return out


def compare(tunelab: list[float], random: list[float], mode: str) -> dict[str, Any]:
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    t_curve, r_curve = best_so_far(tunelab, mode), best_so_far(random, mode)
    target = r_curve[-1]
    reached = next((i + 1 for i, v in enumerate(t_curve) if better(v, target)), None)
    equal = min(len(t_curve), len(r_curve))
    return {
        "tunelab_epochs": len(t_curve),
        "random_epochs": len(r_curve),
        "ratio": reached / len(r_curve) if reached is not None else math.inf,
        "equal_compute_epochs": equal,
        "tunelab_best": t_curve[equal - 1],
        "random_best": r_curve[equal - 1],
        "tunelab_at_least_random": better(t_curve[equal - 1], r_curve[equal - 1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    specs = sorted(p.stem for p in (REPO / "search_spaces").glob("*.yaml"))
    parser.add_argument("--specs", default=",".join(specs), help="comma-separated spec names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--max-epochs", type=int, default=6)
    args = parser.parse_args()

    import ray

    from tunelab.spec import parse_spec
    from tunelab.sweep import run_sweep

    os.environ["TUNELAB_CACHE_DIR"] = os.environ.get("TUNELAB_CACHE_DIR", "") or str(
        Path(tempfile.gettempdir()) / "tunelab-bench-cache"
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tunelab-search-bench-") as folder:
        os.chdir(folder)
        uri = f"sqlite:///{folder}/mlflow.db"
        for spec_name in args.specs.split(","):
            text = (REPO / "search_spaces" / f"{spec_name}.yaml").read_text()
            seeds = []
            for seed in range(args.seeds):
                runs = {}
                for method in ("tunelab", "random"):
                    sweep = f"{spec_name}-{method}-{seed}"
                    loaded = parse_spec(
                        variant(
                            text, method, seed=seed, trials=args.trials, max_epochs=args.max_epochs
                        ),
                        str(REPO / "search_spaces" / f"{spec_name}.yaml"),
                        {"--name": sweep},
                    )
                    run_sweep(loaded, tracking_uri=uri, results_dir=f"{folder}/results", live=False)
                    runs[method] = observations(uri, sweep, loaded.spec.metric)
                    mode = loaded.spec.mode
                seeds.append(compare(runs["tunelab"], runs["random"], mode))
            ratios = [s["ratio"] for s in seeds]
            results[spec_name] = {
                "median_ratio": statistics.median(ratios),
                "worst_ratio": max(ratios),
                "seeds_tunelab_at_least_random": sum(s["tunelab_at_least_random"] for s in seeds),
                "seeds": seeds,
            }
            r = results[spec_name]
            print(
                f"{spec_name:<20} median ratio {r['median_ratio']:.2f}  worst {r['worst_ratio']:.2f}  "
                f"tunelab >= random at equal compute in {r['seeds_tunelab_at_least_random']}/"
                f"{len(seeds)} seeds",
                flush=True,
            )
    ray.shutdown()
    summary = {
        "specs": results,
        "seeds": args.seeds,
        "trials": args.trials,
        "max_epochs": args.max_epochs,
        "wall_s": round(time.perf_counter() - started, 1),
        "goals": {"median_ratio_max": 0.25, "tunelab_at_least_random": "every seed"},
    }
    print(json.dumps(_finite(summary)))


def _finite(value: Any) -> Any:
    """JSON has no infinity: a ratio never reached is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
