"""Does tunelab's default search beat random search at the same compute?

For each ready spec in search_spaces/ (at a reduced budget), and each seed:

  random    `searcher: random`, `scheduler: fifo`: TRIALS trials of MAX_EPOCHS epochs;
  tunelab   the spec with its `searcher` and `scheduler` removed (tunelab's defaults), capped
            at the same epochs in all (`budget.max_total_epochs`): early stopping spends what
            it saves on more trials.

Both get the same concurrency (2) and epochs per trial. Compute is counted in epochs trained,
not trials. Every epoch's
validation metric counts as an observation, since every epoch is checkpointed and its model
can be kept; the best so far is taken in the order the epochs were reported.

Per spec it reports:
  - ratio: the epochs tunelab needed to reach random's final best, over random's total epochs
    (inf when it never did); the median and the worst seed;
  - at equal compute (the smaller of the two totals; a running trial can finish its epoch
    past the cap, which is not counted): each method's best so far, per seed, and
    how many seeds tunelab was at least as good.

Goals: tunelab at least as good as random in every seed; median ratio at most 0.25.

    .venv/bin/python benchmarks/search.py [--specs mlp_wine,cnn_digits] [--seeds 5]
        [--trials 12] [--max-epochs 12] [--warm-start-specs mlp_digits,cnn_digits]
        [--tunelab '{searcher: {startup_trials: 4}}']

Warm start, on a few specs (--warm-start-specs): per seed s, an earlier tunelab sweep (seed s),
then one warm-started from it (`--warm-start`) and a cold one, both seed s + 100, at the same
budget: the epochs each needs to reach the earlier sweep's best (inf: never), and how many seeds
the warm one needed fewer.

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
WARM_START_SPECS = ("mlp_digits", "cnn_digits")


def variant(
    text: str,
    method: str,
    *,
    seed: int,
    trials: int,
    max_epochs: int,
    override: dict[str, Any] | None = None,
) -> str:
    spec = yaml.safe_load(text)
    spec.pop("searcher", None)
    spec.pop("scheduler", None)
    budget = {"trials": trials, "max_epochs": max_epochs, "concurrency": 2}
    if method == "random":
        spec["searcher"], spec["scheduler"] = "random", "fifo"
    else:
        # The same compute, in epochs: as many trials as early stopping leaves room for.
        budget.update(trials=trials * max_epochs, max_total_epochs=trials * max_epochs)
        spec.update(override or {})
    spec["budget"] = budget
    spec["seed"] = seed
    spec["system_metrics"] = {"interval_s": 0}
    dataset = spec["dataset"]
    name = dataset if isinstance(dataset, str) else dataset.get("name")
    if name in SMALLER_DATA:
        options = dataset.get("options", {}) if isinstance(dataset, dict) else {}
        spec["dataset"] = {"name": name, "options": {**options, **SMALLER_DATA[name]}}
    spec.pop("name", None)
    return yaml.safe_dump(spec, sort_keys=False)


def observations(tracking_uri: str, sweep: str, metric: str) -> tuple[list[float], int]:
    """Every epoch's metric across the sweep's trials, in the order they were reported; and
    the number of trials."""
    from mlflow import MlflowClient

    from tunelab.tracking.tags import ROLE_TRIAL, TAG_ROLE, TAG_SWEEP

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, f"tags.`{TAG_SWEEP}` = '{sweep}' AND tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'"
    )
    points = []
    for run in runs:
        for m in client.get_metric_history(run.info.run_id, metric):
            points.append((m.timestamp, m.step, run.info.run_id, m.value))
    points.sort()
    return [value for *_, value in points], len(runs)


def best_so_far(values: list[float], mode: str) -> list[float]:
    out, best = [], -math.inf if mode == "max" else math.inf
    for value in values:
        if math.isfinite(value):
            best = max(best, value) if mode == "max" else min(best, value)
        out.append(best)
    return out


def compare(tunelab: list[float], random: list[float], mode: str) -> dict[str, Any]:
    """tunelab's epochs past random's total are not counted: equal compute at most."""
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    tunelab = tunelab[: len(random)]
    t_curve, r_curve = best_so_far(tunelab, mode), best_so_far(random, mode)
    equal = min(len(t_curve), len(r_curve))
    return {
        "tunelab_epochs": len(t_curve),
        "random_epochs": len(r_curve),
        "ratio": epochs_to_reach(tunelab, r_curve[-1], mode) / len(r_curve),
        "equal_compute_epochs": equal,
        "tunelab_best": t_curve[equal - 1],
        "random_best": r_curve[equal - 1],
        "tunelab_at_least_random": better(t_curve[equal - 1], r_curve[equal - 1]),
    }


def epochs_to_reach(values: list[float], target: float, mode: str) -> float:
    """The epochs until the best so far is at least `target`; inf if it never is."""
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    curve = best_so_far(values, mode)
    return next((i + 1 for i, v in enumerate(curve) if better(v, target)), math.inf)


class Bench:
    """Runs benchmark sweeps in one Ray session, one MLflow store and one results folder."""

    def __init__(self, folder: str, args: argparse.Namespace, override: dict[str, Any]) -> None:
        self.folder, self.args, self.override = folder, args, override
        self.uri = f"sqlite:///{folder}/mlflow.db"

    def sweep(
        self,
        spec_name: str,
        method: str,
        seed: int,
        *,
        role: str = "",
        warm_start: str | None = None,
    ) -> dict[str, Any]:
        """Runs one sweep; its name, every epoch's metric in order, trials, mode and seconds."""
        from tunelab.spec import parse_spec
        from tunelab.sweeps import run_sweep

        path = str(REPO / "search_spaces" / f"{spec_name}.yaml")
        name = f"{spec_name}-{method}-{seed}" + (f"-{role}" if role else "")
        spec_text = variant(
            Path(path).read_text(), method, seed=seed, trials=self.args.trials,
            max_epochs=self.args.max_epochs, override=self.override,
        )  # fmt: skip
        loaded = parse_spec(spec_text, path, {"--name": name})
        began = time.perf_counter()
        run_sweep(
            loaded,
            tracking_uri=self.uri,
            results_dir=f"{self.folder}/results",
            live=False,
            warm_start=warm_start,
        )
        values, trials = observations(self.uri, name, loaded.spec.metric)
        return {
            "name": name,
            "values": values,
            "trials": trials,
            "mode": loaded.spec.mode,
            "wall_s": round(time.perf_counter() - began, 1),
        }


def random_sweep(bench: Bench, spec_name: str, seed: int) -> dict[str, Any]:
    """Random search's sweep, kept in the cache folder: it does not depend on tunelab's
    settings, so measuring other settings (--tunelab) reruns only tunelab's side."""
    a = bench.args
    cache = Path(os.environ["TUNELAB_CACHE_DIR"]) / "search-benchmark"
    path = cache / f"{spec_name}-seed{seed}-{a.trials}x{a.max_epochs}.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    result = bench.sweep(spec_name, "random", seed)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


def against_random(bench: Bench, spec_name: str, seeds: int) -> dict[str, Any]:
    per_seed = []
    for seed in range(seeds):
        tunelab = bench.sweep(spec_name, "tunelab", seed)
        random = random_sweep(bench, spec_name, seed)
        per_seed.append(
            {
                **compare(tunelab["values"], random["values"], tunelab["mode"]),
                "tunelab_trials": tunelab["trials"],
                "tunelab_epochs_trained": len(tunelab["values"]),
                "wall_s": {"tunelab": tunelab["wall_s"], "random": random["wall_s"]},
            }
        )
    ratios = [s["ratio"] for s in per_seed]
    result = {
        "median_ratio": statistics.median(ratios),
        "worst_ratio": max(ratios),
        "seeds_tunelab_at_least_random": sum(s["tunelab_at_least_random"] for s in per_seed),
        "seeds": per_seed,
    }
    print(
        f"{spec_name:<20} median ratio {result['median_ratio']:.2f}  "
        f"worst {result['worst_ratio']:.2f}  tunelab >= random at equal compute in "
        f"{result['seeds_tunelab_at_least_random']}/{seeds} seeds",
        flush=True,
    )
    return result


def warm_against_cold(bench: Bench, spec_name: str, seeds: int) -> dict[str, Any]:
    """An earlier sweep (seed s), then a sweep warm-started from it and a cold one (both seed
    s + 100): the epochs each needs to reach the earlier sweep's best."""
    per_seed = []
    for seed in range(seeds):
        earlier = bench.sweep(spec_name, "tunelab", seed, role="earlier")
        mode = earlier["mode"]
        target = best_so_far(earlier["values"], mode)[-1]
        warm = bench.sweep(
            spec_name, "tunelab", seed + 100, role="warm", warm_start=earlier["name"]
        )
        cold = bench.sweep(spec_name, "tunelab", seed + 100, role="cold")
        per_seed.append(
            {
                "earlier_best": target,
                "warm_epochs": epochs_to_reach(warm["values"], target, mode),
                "cold_epochs": epochs_to_reach(cold["values"], target, mode),
            }
        )
    warm_fewer = sum(s["warm_epochs"] < s["cold_epochs"] for s in per_seed)
    result = {
        "median_warm_epochs": statistics.median(s["warm_epochs"] for s in per_seed),
        "median_cold_epochs": statistics.median(s["cold_epochs"] for s in per_seed),
        "seeds_warm_fewer_epochs": warm_fewer,
        "seeds": per_seed,
    }
    print(
        f"{spec_name:<20} warm start: earlier best reached in {result['median_warm_epochs']} "
        f"epochs (median), cold {result['median_cold_epochs']}; warm fewer in "
        f"{warm_fewer}/{seeds} seeds",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    specs = sorted(p.stem for p in (REPO / "search_spaces").glob("*.yaml"))
    parser.add_argument("--specs", default=",".join(specs), help="comma-separated spec names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument(
        "--warm-start-specs",
        default=",".join(WARM_START_SPECS),
        help="specs to measure warm start on (comma-separated; empty: none)",
    )
    parser.add_argument(
        "--tunelab",
        default="{}",
        help="YAML merged into tunelab's spec, to measure other settings, e.g. "
        "'{searcher: {startup_trials: 4}}'",
    )
    args = parser.parse_args()
    override = yaml.safe_load(args.tunelab) or {}

    import ray

    os.environ["TUNELAB_CACHE_DIR"] = os.environ.get("TUNELAB_CACHE_DIR", "") or str(
        Path(tempfile.gettempdir()) / "tunelab-bench-cache"
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tunelab-search-bench-") as folder:
        os.chdir(folder)
        bench = Bench(folder, args, override)
        results = {name: against_random(bench, name, args.seeds) for name in _names(args.specs)}
        warm = {
            name: warm_against_cold(bench, name, args.seeds)
            for name in _names(args.warm_start_specs)
        }
    ray.shutdown()
    summary = {
        "specs": results,
        "warm_start": warm,
        "seeds": args.seeds,
        "trials": args.trials,
        "max_epochs": args.max_epochs,
        "tunelab_override": override,
        "wall_s": round(time.perf_counter() - started, 1),
        "goals": {"median_ratio_max": 0.25, "tunelab_at_least_random": "every seed"},
    }
    print(json.dumps(_finite(summary)))


def _names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


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
