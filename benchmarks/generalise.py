"""Do tunelab's defaults hold on tasks nobody tuned them on?

Three sets of tasks:

  tuning      the generated task families' tuning instances (task_families/, seeds 0-2):
              the only tasks a default may be chosen on;
  validation  their validation instances (seeds 100-102): where a default is reported;
  ready       the ready specs in search_spaces/ (at the reduced budget of search.py).

For each task and search seed, as in search.py: random search (`searcher: random`, FIFO, 12
trials of 12 epochs) and tunelab's defaults (plus --tunelab) capped at the same epochs in all.
tunelab runs with `searcher.reproducible: true` (--reproducible off to compare), so a setting's
effect is not the noise of which trial reported first. Compute is counted two ways from the same
runs: in epochs, and in CPU-seconds (each trial's run time times its CPUs, spread over its
epochs; equal CPU-seconds is the smaller of the two sweeps' totals).

Per task and pooled over every (task, seed): the median ratio of the compute tunelab needed to
reach random's best to random's total (never reached: inf, counted as 1 in the mean), the worst,
and the seeds where tunelab was at least random's best at equal compute.

    .venv/bin/python benchmarks/generalise.py --set tuning|validation|ready [--seeds 2]
        [--families image,sequence] [--instances 3] [--specs mlp_wine,...] [--tunelab YAML]
        [--reproducible on|off] [--out results/generalise_tuning_defaults.json]

Random search's sweeps are cached (TUNELAB_CACHE_DIR) by task, data and seed, so measuring other
settings reruns only tunelab's side. The last line is a JSON object.
"""

from __future__ import annotations

import sys

# This folder holds logging.py, which would stand in for the standard library's logging if it
# came first on sys.path; it goes last, for search.py and task_families.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.append(sys.path.pop(0))

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
from task_families import FAMILIES, TUNING_SEEDS, VALIDATION_SEEDS, tasks

from search import Bench, _finite, compare, cpu_specs, random_sweep

SETS = ("tuning", "validation", "ready")


def measure(bench: Bench, label: str, seeds: int, path: Path | None, digest: str) -> dict:
    per_seed = []
    for seed in range(seeds):
        random = random_sweep(bench, label, seed, path=path, digest=digest)
        tunelab = bench.sweep(label, "tunelab", seed, path=path)
        mode = tunelab["mode"]
        epochs = compare(tunelab["values"], random["values"], mode)
        cpu = compare(
            tunelab["values"], random["values"], mode, (tunelab["cpu_s"], random["cpu_s"])
        )
        per_seed.append(
            {
                "seed": seed,
                "epochs": epochs,
                "cpu": cpu,
                "tunelab_trials": tunelab["trials"],
                "cpu_s": {
                    "tunelab": round(sum(tunelab["cpu_s"]), 1),
                    "random": round(sum(random["cpu_s"]), 1),
                },
                "wall_s": {"tunelab": tunelab["wall_s"], "random": random["wall_s"]},
            }
        )
    result = {"epochs": pooled(per_seed, "epochs"), "cpu": pooled(per_seed, "cpu")}
    print(f"{label:<28} {line(result)}", flush=True)
    return {**result, "seeds": per_seed}


def pooled(per_seed: list[dict], unit: str) -> dict[str, Any]:
    ratios = [s[unit]["ratio"] for s in per_seed]
    return {
        "median_ratio": statistics.median(ratios),
        "mean_ratio": statistics.fmean(min(r, 1.0) for r in ratios),
        "worst_ratio": max(ratios),
        "at_least_random": sum(s[unit]["tunelab_at_least_random"] for s in per_seed),
        "runs": len(per_seed),
    }


def line(result: dict) -> str:
    def one(p: dict) -> str:
        return (
            f"median {fmt(p['median_ratio'])} mean {p['mean_ratio']:.2f} worst "
            f"{fmt(p['worst_ratio'])} >= random {p['at_least_random']}/{p['runs']}"
        )

    return f"epochs: {one(result['epochs'])} | cpu-s: {one(result['cpu'])}"


def fmt(ratio: float) -> str:
    return f"{ratio:.2f}" if math.isfinite(ratio) else "never"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=SETS, required=True)
    parser.add_argument("--seeds", type=int, default=2, help="search seeds per task")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--instances", type=int, default=3, help="instances of each family")
    parser.add_argument("--trials", type=int, default=12, help="random search's trials")
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--specs", default=",".join(cpu_specs()), help="the ready set's specs")
    parser.add_argument("--tunelab", default="{}", help="YAML merged into tunelab's spec")
    parser.add_argument("--reproducible", choices=("on", "off"), default="on")
    parser.add_argument("--out", help="also write the JSON object to this file")
    args = parser.parse_args()
    args.out = args.out and str(Path(args.out).resolve())
    override = yaml.safe_load(args.tunelab) or {}
    searcher = {**override.get("searcher", {}), "reproducible": args.reproducible == "on"}
    override = {**override, "searcher": searcher}

    import ray

    os.environ["TUNELAB_CACHE_DIR"] = os.environ.get("TUNELAB_CACHE_DIR", "") or str(
        Path(tempfile.gettempdir()) / "tunelab-bench-cache"
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tunelab-generalise-") as folder:
        os.chdir(folder)
        bench = Bench(folder, args, override)
        if args.set == "ready":
            for name in filter(None, args.specs.split(",")):
                results[name] = measure(bench, name, args.seeds, None, "")
        else:
            seeds = (TUNING_SEEDS if args.set == "tuning" else VALIDATION_SEEDS)[: args.instances]
            for task in tasks(seeds, list(filter(None, args.families.split(",")))):
                path, digest = task.write(Path(folder) / "tasks")
                results[task.name] = measure(bench, task.name, args.seeds, path, digest)
    ray.shutdown()
    runs = [s for r in results.values() for s in r["seeds"]]
    total = {"epochs": pooled(runs, "epochs"), "cpu": pooled(runs, "cpu")}
    print(f"{'pooled':<28} {line(total)}", flush=True)
    summary = {
        "set": args.set,
        "pooled": total,
        "tasks": results,
        "seeds": args.seeds,
        "tunelab_override": override,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(_finite(summary))
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
