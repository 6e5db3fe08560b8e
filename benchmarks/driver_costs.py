"""What the driver spends per result and per trial, and what a trial spends before its first epoch,
in a sweep of short trials run as a user runs one.

A sweep of the digits MLP (`run_sweep` in this process: TPE, ASHA, concurrency 2, MLflow's SQLite
store, a checkpoint every epoch; most trials stop after one to three short epochs, as in
versus_optuna.py) runs with the driver's parts timed where Ray Tune calls them (wall and the
calling thread's CPU):

  per result    Ray Tune's controller taking one result (`TuneController._process_trial_result`:
                the searcher, the scheduler, the stoppers and every callback), and within it the
                searcher's part (Optuna's intermediate value in the study's journal), the
                scheduler's and tunelab's callback (the recorder, the board, the budget)
  per proposal  the searcher's `suggest` (Optuna's TPE over the trials so far)
  per trial     from the driver's view of each slot: a trial's end to the next trial's start
                (the proposal, the actor's reset), and a trial's start to its first result less
                the trial's own epoch-to-epoch interval (its set-up before the first epoch: the
                data from the object store, the model built, the first checkpoint)
  per epoch     the interval between a trial's consecutive results (an epoch's training, its
                checkpoint and the round trip to the driver)
  fixed         the seconds before the first trial started (Ray's start, the driver's checks,
                the parent run, the workers' start) and after the last one ended

Each as median and total over the sweep. The last line is a JSON object of them.

    .venv/bin/python benchmarks/driver_costs.py [--trials 48] [--epochs 8] [--seed 0]
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)  # this folder's logging.py is not the standard library's

import argparse
import itertools
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SPEC = """
model: mlp
dataset: digits
metric: val_accuracy
mode: max
seed: {seed}
budget: {{trials: {trials}, max_epochs: {epochs}, concurrency: 2}}
scheduler: asha
searcher: tpe
space:
  lr: {{type: float, low: 1.0e-4, high: 1.0e-1, log: true}}
  width: {{type: int, low: 16, high: 128}}
  dropout: {{type: float, low: 0.0, high: 0.5}}
  batch_size: {{type: categorical, choices: [32, 64, 128]}}
"""


class Timings:
    """Wall and CPU seconds of each call of the methods wrapped, by name."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, method: str, name: str) -> None:
        original = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.cpu[name].append(time.thread_time() - cpu)
                self.wall[name].append(time.perf_counter() - wall)

        setattr(owner, method, timed)
        self.undo.append(lambda: setattr(owner, method, original))

    def restore(self) -> None:
        for undo in reversed(self.undo):
            undo()

    def summary(self) -> dict[str, Any]:
        return {
            name: {
                "calls": len(walls),
                "median_ms": round(1000 * statistics.median(walls), 3),
                "median_cpu_ms": round(1000 * statistics.median(self.cpu[name]), 3),
                "total_s": round(sum(walls), 3),
            }
            for name, walls in self.wall.items()
        }


@contextmanager
def timed_driver(timings: Timings, events: dict[str, list[tuple[str, float]]]) -> Iterator[None]:
    """Time the driver's parts, and note when each trial starts, reports and ends."""
    from ray import tune
    from ray.tune.execution.tune_controller import TuneController

    from tunelab.backend import _callback, _run, _schedulers, _searcher

    timings.wrap(TuneController, "_process_trial_result", "result: controller")
    timings.wrap(_searcher.BudgetedOptunaSearch, "on_trial_result", "result: searcher")
    timings.wrap(_schedulers.SeededASHA, "on_trial_result", "result: scheduler")
    timings.wrap(_callback.ForwardingCallback, "on_trial_result", "result: tunelab callback")
    timings.wrap(_searcher.BudgetedOptunaSearch, "suggest", "proposal: searcher")

    class Clock(tune.Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            events[trial.trial_id].append(("start", time.perf_counter()))

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:  # fmt: skip
            events[trial.trial_id].append(("result", time.perf_counter()))

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:  # fmt: skip
            events[trial.trial_id].append(("end", time.perf_counter()))

    callbacks = _run._callbacks

    def with_clock(*args: Any, **kwargs: Any) -> list:
        return [*callbacks(*args, **kwargs), Clock()]

    _run._callbacks = with_clock
    try:
        yield
    finally:
        _run._callbacks = callbacks
        timings.restore()


def per_trial(events: dict[str, list[tuple[str, float]]]) -> dict[str, Any]:
    """From each trial's start, results and end: its set-up before the first epoch, the
    interval between its epochs, and on the slots the gap from one trial's end to the next's
    start."""
    setups, intervals, ends, starts = [], [], [], []
    for happened in events.values():
        start = next((t for kind, t in happened if kind == "start"), None)
        results = [t for kind, t in happened if kind == "result"]
        end = next((t for kind, t in happened if kind == "end"), None)
        if start is None or not results:
            continue
        starts.append(start)
        if end is not None:
            ends.append(end)
        gaps = [b - a for a, b in itertools.pairwise(results)]
        intervals += gaps
        if gaps:
            setups.append(results[0] - start - statistics.median(gaps))
    # A slot freed by an end is taken by the next start after it (starts and ends in order).
    free, gaps_between = sorted(ends), []
    for start in sorted(starts)[2:]:  # the first two take the slots as Ray starts
        earlier = [end for end in free if end <= start]
        if earlier:
            gaps_between.append(start - earlier[0])
            free.remove(earlier[0])

    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "n": len(values),
            "median_ms": round(1000 * statistics.median(values), 1) if values else None,
            "total_s": round(sum(values), 2),
        }

    return {
        "trial set-up before its first epoch": stats(setups),
        "end to the next trial's start, on a slot": stats(gaps_between),
        "between a trial's results (an epoch)": stats(intervals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from tunelab.spec import parse_spec
    from tunelab.sweeps import run_sweep

    timings = Timings()
    events: dict[str, list[tuple[str, float]]] = defaultdict(list)
    loaded = parse_spec(
        SPEC.format(seed=args.seed, trials=args.trials, epochs=args.epochs),
        "driver_costs.yaml",
        {"--name": "driver-costs"},
    )
    with tempfile.TemporaryDirectory(prefix="tunelab-driver-costs-") as folder:
        where = {
            "tracking_uri": f"sqlite:///{folder}/mlflow.db",
            "results_dir": f"{folder}/results",
        }
        started = time.perf_counter()
        with timed_driver(timings, events):
            result = run_sweep(loaded, live=False, **stores(where))
        ended = time.perf_counter()
    wall = ended - started
    moments = [t for happened in events.values() for _, t in happened]
    out = {
        "trials": args.trials,
        "epochs": args.epochs,
        "seed": args.seed,
        "wall_s": round(wall, 2),
        "counts": result.counts,
        # the sweep's fixed costs: before its first trial started, after its last trial ended
        "before_first_trial_s": round(min(moments) - started, 2),
        "after_last_trial_s": round(ended - max(moments), 2),
        "driver": timings.summary(),
        "slots": per_trial(events),
    }
    print(
        f"wall {wall:.1f} s: {out['before_first_trial_s']} s before the first trial started, "
        f"{out['after_last_trial_s']} s after the last one ended"
    )
    for name, row in out["driver"].items():
        print(
            f"{name:<28} {row['calls']:>5} calls  median {row['median_ms']:>7.2f} ms "
            f"(CPU {row['median_cpu_ms']:.2f})  total {row['total_s']:.2f} s"
        )
    for name, row in out["slots"].items():
        print(f"{name:<44} {row['n']:>5}  median {row['median_ms']} ms  total {row['total_s']} s")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


def stores(where: dict[str, str]) -> dict[str, Any]:
    """run_sweep's store arguments, for this tree's signature (one Stores value, or keywords
    in trees before it), so that one script times both sides of a change."""
    try:
        from tunelab.sweeps import Stores
    except ImportError:
        return where
    return {"stores": Stores.resolve(**where)}


if __name__ == "__main__":
    main()
