"""Multi-objective early stopping and constraints: hypervolume against compute.

Part one, per spec in mo_specs/ (accuracy against size) and seed, four ways to search:

  fifo      tunelab, `scheduler: fifo`: TRIALS trials of MAX_EPOCHS epochs, every one to its end
            (what a multi-objective sweep did before multi-objective ASHA);
  mo-asha   tunelab's default (multi-objective ASHA), capped at fifo's epochs in all
            (`budget.max_total_epochs`): early stopping spends what it saves on more trials;
  nsga2     Optuna alone: `study.optimize` in this process, one trial at a time, TRIALS trials
  tpe       of MAX_EPOCHS epochs each with tunelab's training loop, no pruning.

Every epoch's (val_accuracy, param_count) counts as a point, in the order reported (each epoch
is checkpointed: its model can be kept). The hypervolume of the points so far is taken on
(1 - val_accuracy, log10 param_count), against the reference point (1, the largest log10
param_count any of the four saw for that spec and seed). Compute is epochs, and CPU-seconds
(each trial's time times its CPUs, spread over its epochs; Optuna alone: each epoch's own time,
one CPU). Per method: the compute it needed to reach fifo's final hypervolume, over fifo's total
(inf: never). Goal: mo-asha <= 0.4 in every seed, in epochs and in CPU-seconds.

Every spec in mo_specs/ was written for reporting. To choose a setting of multi-objective
ASHA, run it on generated tasks instead (--tasks tuning: task_families/' tuning instances of
the accuracy families, with accuracy against size as their objectives; --tasks validation to
report), comparing fifo and mo-asha only (--methods fifo,mo-asha) with the setting as YAML
over mo-asha's spec (--mo-asha '{scheduler: {reduction_factor: 4}}'), and --reproducible, so
that fifo's sweep, the target, is the same for every setting. "pooled" sums up every (spec,
seed).

Part two, constraints (--constraint-specs): the spec with `constraints: {param_count: {max:
CAP}}` against the same spec without (judged by the cap afterwards), tunelab's defaults, per
seed: the share of epochs spent on infeasible trials, and the best feasible val_accuracy.
Goals: <= 10% with the constraint, and the best feasible at least as good as without, every seed.
--constraint-objectives: spec (the spec's two objectives, accuracy and size), accuracy (one
objective, val_accuracy: "the most accurate model under CAP parameters"), or both.

    .venv/bin/python benchmarks/multi_objective.py [--specs mlp_digits_size,cnn_digits_size]
        [--seeds 5] [--trials 12] [--max-epochs 12] [--constraint-specs mlp_digits_size]
        [--cap 5000] [--constraint-objectives spec,accuracy] [--out results/multi_objective.json]
        [--tasks specs|tuning|validation] [--families image,...] [--instances 3]
        [--methods fifo,mo-asha,nsga2,tpe] [--mo-asha YAML] [--reproducible]

The last line is a JSON object.
"""

from __future__ import annotations

import sys

# This folder holds logging.py, which would stand in for the standard library's logging if it
# came first on sys.path; it goes last, for task_families.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.append(sys.path.pop(0))

import argparse
import copy
import itertools
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from task_families import TUNING_SEEDS, VALIDATION_SEEDS, Task, tasks

HERE = Path(__file__).resolve().parent
SPECS = ("mlp_digits_size", "cnn_digits_size")
METHODS = ("fifo", "mo-asha", "nsga2", "tpe")
ACCURACY_FAMILIES = ("tabular_classification", "image", "sequence")  # val_accuracy, all three
SIZE_OBJECTIVES = [
    {"metric": "val_accuracy", "mode": "max"},
    {"metric": "param_count", "mode": "min"},
]
TASK_SPECS: dict[str, dict[str, Any]] = {}  # a generated task's spec, by its name (see task_spec)
Point = tuple[float, float]  # (1 - val_accuracy, log10 param_count): both minimised


def hypervolume(points: list[Point], reference: Point) -> float:
    """The area the points dominate below `reference` (two objectives, both minimised)."""
    inside = sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, lowest = 0.0, reference[1]
    for x, y in inside:
        if y < lowest:
            area += (reference[0] - x) * (lowest - y)
            lowest = y
    return area


def curve(points: list[Point], reference: Point) -> list[float]:
    """The hypervolume after each point."""
    out, front = [], []
    for point in points:
        front.append(point)
        out.append(hypervolume(front, reference))
    return out


def to_point(accuracy: float, params: float) -> Point:
    return (1.0 - accuracy, math.log10(max(params, 1.0)))


def task_spec(task: Task, folder: str) -> dict[str, Any]:
    """A generated task's stock spec (task_families/), asked for accuracy against size."""
    path, _ = task.write(Path(folder) / "tasks")
    spec = yaml.safe_load(path.read_text())
    del spec["metric"], spec["mode"]
    return {**spec, "dataset": str(path.parent / "data.npz"), "objectives": SIZE_OBJECTIVES}


def spec_text(name: str, seed: int, args: argparse.Namespace, **changes: Any) -> dict[str, Any]:
    if name in TASK_SPECS:
        spec = copy.deepcopy(TASK_SPECS[name])
    else:
        spec = yaml.safe_load((HERE / "mo_specs" / f"{name}.yaml").read_text())
    spec["seed"] = seed
    spec["budget"] = {"trials": args.trials, "max_epochs": args.max_epochs, "concurrency": 2}
    spec["system_metrics"] = {"interval_s": 0}
    if args.reproducible:  # tunelab's sweeps only: fifo's is then the same for every setting
        spec["searcher"] = {"reproducible": True}
    spec.update(changes)
    return spec


def tunelab_run(folder: str, label: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A sweep; every epoch's (val_accuracy, param_count) in the order reported, each epoch's
    CPU-seconds, its trials' outcomes."""
    from mlflow import MlflowClient

    from tunelab.spec import spec_from_mapping
    from tunelab.sweeps import Stores, run_sweep
    from tunelab.tracking.tags import ROLE_TRIAL, TAG_ROLE, TAG_SWEEP

    uri = f"sqlite:///{folder}/mlflow.db"
    loaded = spec_from_mapping(spec, f"{label}.yaml", {"--name": label})
    began = time.perf_counter()
    run_sweep(
        loaded, stores=Stores.resolve(tracking_uri=uri, results_dir=f"{folder}/results"), live=False
    )
    wall = time.perf_counter() - began
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, f"tags.`{TAG_SWEEP}` = '{label}' AND tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'"
    )
    rows = []
    for run in runs:
        accuracy = client.get_metric_history(run.info.run_id, "val_accuracy")
        size = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "param_count")}
        seconds = max(0.0, ((run.info.end_time or 0) - run.info.start_time) / 1000)
        cost = seconds / max(1, len(accuracy))
        for m in accuracy:
            if m.step in size:
                rows.append((m.timestamp, m.step, run.info.run_id, m.value, size[m.step], cost))
    rows.sort()
    return {
        "observations": [(r[3], r[4]) for r in rows],
        "cpu_s": [r[5] for r in rows],
        "trials": len(runs),
        "wall_s": round(wall, 1),
    }


def optuna_run(spec: dict[str, Any], sampler: str) -> dict[str, Any]:
    """Optuna alone, as a user would write it: one trial at a time in this process."""
    import optuna
    import torch

    from tunelab.models import architectures
    from tunelab.search import define_by_run
    from tunelab.spec import spec_from_mapping
    from tunelab.sweeps import load_data
    from tunelab.training import train

    torch.set_num_threads(1)
    loaded = spec_from_mapping(spec, "optuna.yaml")
    data, arch = load_data(loaded), architectures.get(loaded.spec.model.name)
    space = define_by_run(loaded.spec)
    seed = loaded.spec.seed
    made = (
        optuna.samplers.NSGAIISampler(seed=seed)
        if sampler == "nsga2"
        else optuna.samplers.TPESampler(seed=seed)
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=made)
    observations: list[tuple[float, float]] = []
    cpu_s: list[float] = []
    began = time.perf_counter()

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        constants = space(trial)  # suggests the parameters; returns the constants and seed
        config = {**trial.params, **constants}
        last: dict[str, float] = {}
        clock = [time.perf_counter()]

        def report(epoch: int, metrics: dict[str, float], state: Any) -> None:
            now = time.perf_counter()
            cpu_s.append(now - clock[0])
            clock[0] = now
            observations.append((metrics["val_accuracy"], metrics["param_count"]))
            last.update(metrics)

        train(config, data, arch, max_epochs=loaded.spec.budget.max_epochs, report=report)
        return last["val_accuracy"], last["param_count"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=loaded.spec.budget.trials)
    return {
        "observations": observations,
        "cpu_s": cpu_s,
        "trials": len(study.trials),
        "wall_s": round(time.perf_counter() - began, 1),
    }


def reach(values: list[float], costs: list[float], target: float) -> float:
    """The compute until the hypervolume first reaches `target` (inf: never)."""
    spent = 0.0
    for value, cost in zip(values, costs, strict=True):
        spent += cost
        if value >= target - 1e-12:
            return spent
    return math.inf


def capped_budget(args: argparse.Namespace) -> dict[str, Any]:
    """As many trials as it likes, within fifo's epochs in all."""
    total = args.trials * args.max_epochs
    return {
        "trials": total,
        "max_epochs": args.max_epochs,
        "concurrency": 2,
        "max_total_epochs": total,
    }


def pareto_seed(folder: str, name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    fifo_spec = spec_text(name, seed, args, scheduler="fifo")
    total = args.trials * args.max_epochs
    mo_asha_spec = {**spec_text(name, seed, args), "budget": capped_budget(args)}
    mo_asha_spec.update(yaml.safe_load(args.mo_asha) or {})
    runs = {"fifo": tunelab_run(folder, f"{name}-fifo-{seed}", fifo_spec)}
    if "mo-asha" in args.methods:
        runs["mo-asha"] = tunelab_run(folder, f"{name}-moasha-{seed}", mo_asha_spec)
    for sampler in ("nsga2", "tpe"):
        if sampler in args.methods:
            runs[sampler] = optuna_run(fifo_spec, sampler)
    largest = max(math.log10(max(p, 1.0)) for r in runs.values() for _, p in r["observations"])
    reference = (1.0, largest + 1e-9)
    out: dict[str, Any] = {"reference": reference}
    curves = {
        k: curve([to_point(*o) for o in r["observations"]], reference) for k, r in runs.items()
    }
    target = curves["fifo"][-1]
    fifo_epochs, fifo_cpu = len(curves["fifo"]), sum(runs["fifo"]["cpu_s"])
    for method, run in runs.items():
        values = curves[method][:total]  # a trial running at the cap finishes its epoch
        out[method] = {
            "final_hypervolume": values[-1],
            "epochs": len(values),
            "cpu_s": round(sum(run["cpu_s"]), 1),
            "trials": run["trials"],
            "wall_s": run["wall_s"],
            "epochs_ratio": reach(values, [1.0] * len(values), target) / fifo_epochs,
            "cpu_ratio": reach(values, run["cpu_s"][: len(values)], target) / fifo_cpu,
        }
    return out


def constraint_seed(
    folder: str, name: str, objective: str, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    cap = args.cap
    base = {**spec_text(name, seed, args), "budget": capped_budget(args)}
    if objective == "accuracy":
        base.pop("objectives")
        base.update(metric="val_accuracy", mode="max")
    out = {}
    for label, extra in (
        ("with", {"constraints": {"param_count": {"max": cap}}}),
        ("without", {}),
    ):
        spec = {**base, **extra}
        run = tunelab_run(folder, f"{name}-{objective}-{label}-{seed}", spec)
        infeasible = sum(1 for _, p in run["observations"] if p > cap)
        feasible = [a for a, p in run["observations"] if p <= cap]
        out[label] = {
            "infeasible_share": infeasible / max(1, len(run["observations"])),
            "best_feasible": max(feasible) if feasible else None,
            "trials": run["trials"],
        }
    with_best, without_best = out["with"]["best_feasible"], out["without"]["best_feasible"]
    out["with_at_least_without"] = with_best is not None and (
        without_best is None or with_best >= without_best
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default=",".join(SPECS))
    parser.add_argument(
        "--tasks",
        choices=("specs", "tuning", "validation"),
        default="specs",
        help="specs: --specs (mo_specs/); tuning, validation: generated tasks (task_families/)",
    )
    parser.add_argument("--families", default=",".join(ACCURACY_FAMILIES))
    parser.add_argument("--instances", type=int, default=3, help="generated tasks per family")
    parser.add_argument("--methods", default=",".join(METHODS), help="fifo always runs")
    parser.add_argument("--mo-asha", default="", help="YAML over mo-asha's spec")
    parser.add_argument("--reproducible", action="store_true", help="searcher.reproducible")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--constraint-specs", default="mlp_digits_size")
    parser.add_argument("--cap", type=float, default=5000, help="param_count's constraint")
    parser.add_argument("--constraint-objectives", default="spec,accuracy")
    parser.add_argument("--out", help="also write the JSON object to this file")
    args = parser.parse_args()
    args.methods = {"fifo", *filter(None, args.methods.split(","))}
    out_file = args.out and Path(args.out).resolve()

    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    pareto: dict[str, Any] = {}
    constrained: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tunelab-mo-bench-") as folder:
        os.chdir(folder)
        names = list(filter(None, args.specs.split(",")))
        if args.tasks != "specs":
            instances = TUNING_SEEDS if args.tasks == "tuning" else VALIDATION_SEEDS
            generated = tasks(instances[: args.instances], args.families.split(","))
            TASK_SPECS.update((task.name, task_spec(task, folder)) for task in generated)
            names = list(TASK_SPECS)
        compared = [m for m in METHODS if m in args.methods and m != "fifo"]
        for name in names:
            seeds = [pareto_seed(folder, name, s, args) for s in range(args.seeds)]
            ratios = {
                m: {
                    unit: statistics.median(s[m][f"{unit}_ratio"] for s in seeds)
                    for unit in ("epochs", "cpu")
                }
                for m in compared
            }
            pareto[name] = {"median_ratios": ratios, "seeds": seeds}
            if "mo-asha" in compared:
                pareto[name]["mo_asha_worst_epochs"] = max(
                    s["mo-asha"]["epochs_ratio"] for s in seeds
                )
            print(f"{name:<24} median ratios {json.dumps(ratios)}")
            if out_file:  # what is done so far, should the run be cut short
                Path(out_file).write_text(json.dumps(_finite({"pareto": pareto})) + "\n")
        for name, objective in itertools.product(
            filter(None, args.constraint_specs.split(",")),
            filter(None, args.constraint_objectives.split(",")),
        ):
            seeds = [constraint_seed(folder, name, objective, s, args) for s in range(args.seeds)]
            key = f"{name}:{objective}"
            constrained[key] = {
                "median_infeasible_share": {
                    k: statistics.median(s[k]["infeasible_share"] for s in seeds)
                    for k in ("with", "without")
                },
                "seeds_with_at_least_without": sum(s["with_at_least_without"] for s in seeds),
                "seeds": seeds,
            }
            shares = json.dumps(constrained[key]["median_infeasible_share"])
            print(f"{key:<27} constraints: infeasible share {shares}")
            if out_file:
                Path(out_file).write_text(
                    json.dumps(_finite({"pareto": pareto, "constraints": constrained})) + "\n"
                )
    ray.shutdown()
    summary = {
        "tasks": args.tasks,
        "mo_asha_override": yaml.safe_load(args.mo_asha) or {},
        "pooled": pooled(pareto),
        "pareto": pareto,
        "constraints": constrained,
        "seeds": args.seeds,
        "trials": args.trials,
        "max_epochs": args.max_epochs,
        "cap": args.cap,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(_finite(summary))
    if out_file:
        Path(out_file).write_text(text + "\n")
    print(text)


def pooled(pareto: dict[str, Any]) -> dict[str, Any]:
    """Each compared method's epochs and CPU-seconds ratios over every (spec, seed): median,
    worst and how many reached fifo's final hypervolume."""
    out: dict[str, Any] = {}
    for method in ("mo-asha", "nsga2", "tpe"):
        runs = [s[method] for p in pareto.values() for s in p["seeds"] if method in s]
        if runs:
            out[method] = {
                unit: {
                    "median": statistics.median(r[f"{unit}_ratio"] for r in runs),
                    "worst": max(r[f"{unit}_ratio"] for r in runs),
                    "reached": sum(math.isfinite(r[f"{unit}_ratio"]) for r in runs),
                    "runs": len(runs),
                }
                for unit in ("epochs", "cpu")
            }
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
