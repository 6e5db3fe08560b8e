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
        [--tunelab '{searcher: {startup_trials: 4}}'] [--compute epochs|cpu]

With `--compute cpu`, equal compute is CPU-seconds rather than epochs: each trial's run time
(start to end) times the CPUs it held (a fused member: its share of its group's), spread evenly
over its epochs; tunelab's sweep is capped at random's total with `budget.max_cpu_hours`, and the
ratio is of CPU-seconds. An epoch is not a fixed unit once the search moves to configurations
that train slower or faster, or trains several at once.

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
    cpu_seconds: float | None = None,
) -> str:
    spec = yaml.safe_load(text)
    spec.pop("searcher", None)
    spec.pop("scheduler", None)
    budget = {"trials": trials, "max_epochs": max_epochs, "concurrency": 2}
    if method == "random":
        spec["searcher"], spec["scheduler"] = "random", "fifo"
    else:
        # The same compute, in epochs (or CPU-seconds): as many trials as early stopping
        # leaves room for.
        budget["trials"] = trials * max_epochs
        if cpu_seconds is None:
            budget["max_total_epochs"] = trials * max_epochs
        else:
            budget["max_cpu_hours"] = cpu_seconds / 3600
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


def observations(
    tracking_uri: str, sweep: str, metric: str, cpu: float = 1.0
) -> tuple[list[float], list[float], int]:
    """Every epoch's metric across the sweep's trials, in the order they were reported; what
    each epoch cost in CPU-seconds (its trial's run time, start to end, shared evenly by its
    epochs, times the CPUs it held: `cpu`); and the number of trials."""
    from mlflow import MlflowClient

    from tunelab.tracking.tags import ROLE_TRIAL, TAG_ROLE, TAG_SWEEP

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, f"tags.`{TAG_SWEEP}` = '{sweep}' AND tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'"
    )
    points = []
    for run in runs:
        history = client.get_metric_history(run.info.run_id, metric)
        seconds = max(0.0, ((run.info.end_time or 0) - run.info.start_time) / 1000)
        cost = seconds * cpu / max(1, len(history))
        for m in history:
            points.append((m.timestamp, m.step, run.info.run_id, m.value, cost))
    points.sort()
    return [p[3] for p in points], [p[4] for p in points], len(runs)


def best_so_far(values: list[float], mode: str) -> list[float]:
    out, best = [], -math.inf if mode == "max" else math.inf
    for value in values:
        if math.isfinite(value):
            best = max(best, value) if mode == "max" else min(best, value)
        out.append(best)
    return out


def compare(
    tunelab: list[float],
    random: list[float],
    mode: str,
    costs: tuple[list[float], list[float]] | None = None,
) -> dict[str, Any]:
    """tunelab's epochs past random's total are not counted: equal compute at most. Compute is
    epochs, or with `costs` (each epoch's CPU-seconds, tunelab's and random's) CPU-seconds:
    the ratio is then of CPU-seconds, and equal compute is the smaller total."""
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    if costs is None:
        costs = ([1.0] * len(tunelab), [1.0] * len(random))
    t_spent, r_spent = cumulative(costs[0]), cumulative(costs[1])
    r_total = r_spent[-1]
    kept = sum(1 for c in t_spent if c <= r_total + 1e-9) or 1
    tunelab, t_spent = tunelab[:kept], t_spent[:kept]
    t_curve, r_curve = best_so_far(tunelab, mode), best_so_far(random, mode)
    equal = min(t_spent[-1], r_total)
    t_best = t_curve[sum(1 for c in t_spent if c <= equal + 1e-9) - 1]
    r_best = r_curve[max(1, sum(1 for c in r_spent if c <= equal + 1e-9)) - 1]
    reached = epochs_to_reach(tunelab, r_curve[-1], mode)
    return {
        "tunelab_epochs": len(t_curve),
        "random_epochs": len(r_curve),
        "ratio": (t_spent[int(reached) - 1] if math.isfinite(reached) else math.inf) / r_total,
        "equal_compute": round(equal, 2),
        "tunelab_best": t_best,
        "random_best": r_best,
        "tunelab_at_least_random": better(t_best, r_best),
    }


def cumulative(costs: list[float]) -> list[float]:
    out, total = [], 0.0
    for cost in costs:
        total += cost
        out.append(total)
    return out


def epochs_to_reach(values: list[float], target: float, mode: str) -> float:
    """The epochs until the best so far is at least `target`; inf if it never is."""
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    curve = best_so_far(values, mode)
    return next((i + 1 for i, v in enumerate(curve) if better(v, target)), math.inf)


def cpu_specs() -> list[str]:
    """The ready specs a CPU runs: not those that ask for a GPU per trial."""
    return sorted(
        p.stem
        for p in (REPO / "search_spaces").glob("*.yaml")
        if not (yaml.safe_load(p.read_text()).get("resources") or {}).get("gpu")
    )


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
        cpu_seconds: float | None = None,
        path: Path | None = None,
    ) -> dict[str, Any]:
        """Runs one sweep of the ready spec `spec_name` (or the spec at `path`, named
        `spec_name`); its name, every epoch's metric in order and its CPU-seconds, trials, mode
        and seconds. `cpu_seconds`: tunelab's budget in CPU-seconds, not epochs."""
        from tunelab.spec import parse_spec
        from tunelab.sweeps import Stores, run_sweep

        path = path or REPO / "search_spaces" / f"{spec_name}.yaml"
        name = f"{spec_name}-{method}-{seed}" + (f"-{role}" if role else "")
        spec_text = variant(
            path.read_text(), method, seed=seed, trials=self.args.trials,
            max_epochs=self.args.max_epochs, override=self.override, cpu_seconds=cpu_seconds,
        )  # fmt: skip
        loaded = parse_spec(spec_text, str(path), {"--name": name})
        began = time.perf_counter()
        run_sweep(
            loaded,
            stores=Stores.resolve(tracking_uri=self.uri, results_dir=f"{self.folder}/results"),
            live=False,
            warm_start=warm_start,
        )
        spec = loaded.spec
        share = 1 / spec.fusion.members if spec.fusion is not None else 1.0  # a member's CPUs
        values, costs, trials = observations(
            self.uri, name, spec.metric, spec.resources.cpu * share
        )
        return {
            "name": name,
            "values": values,
            "cpu_s": costs,
            "trials": trials,
            "mode": loaded.spec.mode,
            "wall_s": round(time.perf_counter() - began, 1),
        }


def random_sweep(
    bench: Bench, spec_name: str, seed: int, *, path: Path | None = None, digest: str = ""
) -> dict[str, Any]:
    """Random search's sweep, kept in the cache folder: it does not depend on tunelab's
    settings, so measuring other settings (--tunelab) reruns only tunelab's side. `digest`
    names what the spec at `path` (and its data) was, for a generated task."""
    a = bench.args
    cache = Path(os.environ["TUNELAB_CACHE_DIR"]) / "search-benchmark"
    key = f"{spec_name}{'-' + digest if digest else ''}-seed{seed}-{a.trials}x{a.max_epochs}"
    file = cache / f"{key}.json"
    if file.is_file():
        cached = dict(json.loads(file.read_text()))
        if "cpu_s" in cached:  # (kept before costs were)
            return cached
    result = bench.sweep(spec_name, "random", seed, path=path)
    cache.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(result))
    return result


def against_random(bench: Bench, spec_name: str, seeds: int) -> dict[str, Any]:
    per_seed = []
    by_cpu = bench.args.compute == "cpu"
    for seed in range(seeds):
        random = random_sweep(bench, spec_name, seed)
        budget = sum(random["cpu_s"]) if by_cpu else None
        tunelab = bench.sweep(spec_name, "tunelab", seed, cpu_seconds=budget)
        costs = (tunelab["cpu_s"], random["cpu_s"]) if by_cpu else None
        per_seed.append(
            {
                **compare(tunelab["values"], random["values"], tunelab["mode"], costs),
                "tunelab_trials": tunelab["trials"],
                "tunelab_epochs_trained": len(tunelab["values"]),
                "cpu_s": {
                    "tunelab": round(sum(tunelab["cpu_s"]), 1),
                    "random": round(sum(random["cpu_s"]), 1),
                },
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
    specs = cpu_specs()
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
        "--compute",
        choices=("epochs", "cpu"),
        default="epochs",
        help="what equal compute means: epochs trained, or CPU-seconds (each trial's run time "
        "times the CPUs it held; tunelab capped with budget.max_cpu_hours)",
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
        "compute": args.compute,
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
