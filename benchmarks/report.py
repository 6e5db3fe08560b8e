"""What an interpretability report costs, next to training the model it explains.

For each family: train the model as a trial does (one torch thread) and time an epoch; then
time a full report over 256 validation examples (every default method, the faithfulness and
sanity checks, the figures and the page) with the same one thread; then time Integrated
Gradients over the same 256 examples batched, as reports run it, and one example at a time.

Goals: a report costs at most 0.5x one training epoch; batched Integrated Gradients is at least
5x faster than one example at a time. The first depends on the training set's size, since an
epoch grows with it and a report over 256 examples does not: `adding-60k` is the adding problem
with 60,000 training sequences, the size of a typical real training set.

    .venv/bin/python benchmarks/report.py [--cases cnn,mlp,...]

The last line is a JSON object with both ratios per case.
"""

from __future__ import annotations

import sys

# This folder holds logging.py, the logging benchmark. Run as a script, a benchmark has this
# folder first on sys.path, where that file would stand in for the standard library's logging.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLES = 256
EPOCHS = 3  # the first includes one-off set-up; epochs 2 and on are timed
CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    # case: (model, dataset, dataset options, config)
    "cnn-digits": ("cnn", "digits", {}, {}),
    "mlp-breast_cancer": ("mlp", "breast_cancer", {}, {}),
    "lstm-adding": ("lstm", "adding", {}, {"lr": 1e-2, "hidden": 32, "grad_clip": 1.0}),
    "gan-digits": ("gan", "digits", {}, {}),
    "transfer-digits_5_9": ("transfer", "digits_5_9", {}, {"freeze": "partial"}),
    "lstm-adding-60k": (
        "lstm",
        "adding",
        {"size": 100_000},
        {"lr": 1e-2, "hidden": 32, "grad_clip": 1.0},
    ),
}


def run_case(
    model: str, dataset: str, options: dict[str, Any], config: dict[str, Any], all_threads: int
) -> dict:
    import torch

    from tunelab.data import datasets
    from tunelab.plugins import resolve_architecture
    from tunelab.reports import (
        Subject,
        default_methods,
        explain,
        material_from_state,
        write_report,
    )
    from tunelab.reports import _attribution as A
    from tunelab.sweeps import model_options
    from tunelab.training import train

    torch.set_num_threads(1)  # as a trial with one CPU trains; the report is timed alike
    data = datasets.get(dataset).load(**options)
    arch = resolve_architecture(model)
    resolved = model_options(arch, data, {}, None)
    stamps: list[float] = []
    states: list[dict[str, Any]] = []

    def report(_epoch: int, _metrics: dict[str, float], state: dict[str, Any]) -> None:
        stamps.append(time.perf_counter())
        states.append(state)

    train({"seed": 0, **config}, data, arch, max_epochs=EPOCHS, report=report, options=resolved)
    epoch_s = statistics.median([b - a for a, b in itertools.pairwise(stamps)])

    material = material_from_state(states[-1], data, dataset)
    family = material.family
    methods = default_methods(material)
    forward = getattr(material.model, "discriminator", material.model)
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        explanation = explain(material, methods, EXAMPLES)
        subject = Subject(run_id="0" * 32, label=model, checkpoint=Path(out), spec=None)  # type: ignore[arg-type]
        write_report(Path(out), subject, material, explanation, EXAMPLES)
        report_s = time.perf_counter() - began

    # Integrated Gradients alone: batched as reports run it, and one example at a time, with
    # one thread and with the machine's (as `tunelab report` runs).
    x = torch.as_tensor(data.val.x[:EXAMPLES])
    ig: dict[str, float] = {}
    with A.explaining(forward):
        with torch.no_grad():
            target = (
                forward(x).argmax(1)
                if data.task == "classification" and family != "gan"
                else torch.zeros(len(x), dtype=torch.long)
            )
        ex = A.Explainer(forward, x, target, torch.as_tensor(data.train.x.mean(0, keepdims=True)))
        for threads in (1, all_threads):
            torch.set_num_threads(threads)
            A.attribute("integrated_gradients", ex, x[:8], target[:8])  # warm-up
            began = time.perf_counter()
            A.attribute("integrated_gradients", ex)
            batched_s = time.perf_counter() - began
            began = time.perf_counter()
            for i in range(len(x)):
                A.attribute("integrated_gradients", ex, x[i : i + 1], target[i : i + 1])
            single_s = time.perf_counter() - began
            ig[f"batched_s_{threads}t"] = round(batched_s, 3)
            ig[f"single_s_{threads}t"] = round(single_s, 3)
            ig[f"speedup_{threads}t"] = round(single_s / batched_s, 2)
    torch.set_num_threads(1)

    return {
        "family": family,
        "train_examples": len(data.train),
        "epoch_s": round(epoch_s, 3),
        "report_s": round(report_s, 3),
        "report_vs_epoch": round(report_s / epoch_s, 3),
        "ig": ig,
        "ig_batched_speedup": ig[f"speedup_{all_threads}t"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated")
    args = parser.parse_args()
    import torch

    all_threads = torch.get_num_threads()
    results = {}
    for case in args.cases.split(","):
        results[case] = run_case(*CASES[case], all_threads=all_threads)
        r = results[case]
        print(
            f"{case:<22} train {r['train_examples']:>6}  epoch {r['epoch_s']:>7.2f} s  "
            f"report {r['report_s']:>6.2f} s ({r['report_vs_epoch']:>6.2f}x epoch)  "
            f"IG batched vs one at a time: {r['ig']['speedup_1t']:.1f}x on 1 thread, "
            f"{r['ig_batched_speedup']:.1f}x on all",
            flush=True,
        )
    print(
        json.dumps(
            {
                "report_vs_epoch": {c: r["report_vs_epoch"] for c, r in results.items()},
                "ig_batched_speedup": {c: r["ig_batched_speedup"] for c, r in results.items()},
                "goals": {"report_vs_epoch_max": 0.5, "ig_batched_speedup_min": 5.0},
                "cases": results,
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
