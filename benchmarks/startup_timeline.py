"""Where a short sweep's time goes: the driver's steps and the writer's jobs on one clock.

Runs overhead.py's tunelab sweep (16 short CNN trials, FIFO, concurrency 2) once in a local Ray
started beforehand, and prints when each step of `run_sweep` began and ended, when the writer's
warm-up jobs ran (the model folder, the views), and when the driver got chosen results, in
seconds from the call. For the trial processes' side, run it under
`py-spy record --subprocesses --format raw` (see benchmarks/README.md, overhead.py).

    .venv/bin/python benchmarks/startup_timeline.py [--trials 16] [--skip WHAT ...]

`--skip template views` replaces those writer jobs with nothing, to measure what they cost the
trials that start beside them (the sweep still completes; its model is not logged).
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.append(sys.path.pop(0))  # this folder's logging.py is not the standard library's

import argparse
import functools
import importlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = {
    "tunelab.sweeps._run": [
        "prepare", "open_study", "open_tracking", "starting_state", "record_sweep",
        "_prewarm_views",
    ],
    "tunelab.tracking._artifacts": ["ModelTemplate.prepare"],
    "tunelab.tracking._writer": ["TrackingWriter.wait_ready"],
    "ray.tune.tuner": ["Tuner.fit"],
}  # fmt: skip
SHOWN_RESULTS = (1, 2, 12, 13, 48, 96)


def timed(owner: Any, name: str, label: str, clock: Callable[[], float]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = clock()
        try:
            return original(*args, **kwargs)
        finally:
            ended = clock()
            print(f"  {label:28s} {began:7.2f} -> {ended:7.2f}  ({ended - began:.2f} s)")

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--skip", nargs="*", default=[], choices=["template", "views"])
    args = parser.parse_args()
    import overhead
    import ray

    from tunelab.sweeps import _recorder
    from tunelab.sweeps import _run as sweeps_run
    from tunelab.tracking import _artifacts

    start = [0.0]

    def clock() -> float:
        return time.perf_counter() - start[0]

    for module_name, names in STEPS.items():
        module = importlib.import_module(module_name)
        for dotted in names:
            owner, _, name = dotted.rpartition(".")
            timed(getattr(module, owner) if owner else module, name, dotted, clock)
    if "views" in args.skip:
        sweeps_run._prewarm_views = lambda: None  # type: ignore[assignment]
    if "template" in args.skip:
        _artifacts.ModelTemplate.prepare = lambda self: None  # type: ignore[method-assign]
    results = [0]
    original = _recorder.SweepRecorder.trial_result

    def counted(self: Any, trial_id: str, result: Any) -> None:
        results[0] += 1
        if results[0] in SHOWN_RESULTS:
            print(f"  result {results[0]:<21d} {clock():7.2f}")
        original(self, trial_id, result)

    _recorder.SweepRecorder.trial_result = counted  # type: ignore[method-assign]
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        uri = overhead.fresh_store(Path(tmp), "timeline")
        overhead.fresh_store = lambda folder, name: uri  # tables made outside the clock
        start[0] = time.perf_counter()
        wall_s, first_s = overhead.tunelab_run(args.trials, 6, Path(tmp))
    print(f"wall {wall_s:.2f} s, first result {first_s:.2f} s")


if __name__ == "__main__":
    main()
