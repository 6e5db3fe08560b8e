"""The GPU check, in one run on one CUDA device (a few minutes), its steps in this order:

  fusion:   the small CNN of benchmarks/fusion.py on the digits, bf16 autocast: samples/s of
            one trial alone and of fused groups of K = 8, 16, 32, 64 (the engine, whole epochs
            with evaluation and every member's checkpoint); what `fusion: auto` measures (the
            training step alone) and would pick there;
  packing:  four trials packed at 0.25 GPU through `run_sweep` against four bare PyTorch
            processes packed the same way; a sweep of 32 trials fused by 16 against the same 32
            unfused;
  families: every family trains 2 epochs on CUDA (bf16 autocast where supported, data on the
            device, cuDNN's autotuner on), timed, with its last metrics;
  sweep:    a CNN sweep of 8 trials at 0.25 GPU per trial (4 at once) through `run_sweep`;
  reports:  an interpretability report over 256 examples for a CNN and a 2-layer LSTM on the
            GPU (cuDNN's recurrent backward runs in training mode there), timed;
  workers:  a sweep of 2 data-parallel CNN trials of 2 workers, one GPU each, over NCCL (where
            the machine has 2 GPUs; else said so);
  gpu_metrics: Ray serves the GPU gauges the Cluster dashboard reads, for every GPU (needs the
            packages of ray[default], which run Ray's metrics agent; said so when missing).

    python benchmarks/gpu_check.py --out results.json

Writes a small JSON of times and metrics (also printed as the last line).
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "mlp": ("breast_cancer", {}),
    "cnn": ("digits", {}),
    "rnn": ("digits_rows", {"lr": 1e-2}),
    "lstm": ("digits_rows", {"lr": 1e-2}),
    "gru": ("digits_rows", {"lr": 1e-2}),
    "gan": ("digits", {}),
    "transfer": ("digits_5_9", {}),
}


def families() -> dict[str, Any]:
    import torch

    from tunelab.data import datasets
    from tunelab.sweeps import train_briefly
    from tunelab.training import Device

    device = Device.pick(use_gpu=True)
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "bf16": device.bf16}
    for model, (dataset, config) in FAMILIES.items():
        data = datasets.get(dataset).load()
        torch.cuda.synchronize()
        started = time.perf_counter()
        seen = [metrics for metrics, _ in train_briefly(model, data, config, 2, device=device)]
        torch.cuda.synchronize()
        out[model] = {
            "dataset": dataset,
            "seconds": round(time.perf_counter() - started, 3),
            **{k: round(v, 4) for k, v in seen[-1].items()},
        }
        print(model, out[model], flush=True)
    return out


def sweep() -> dict[str, Any]:
    from tunelab.spec import load_spec
    from tunelab.sweeps import Stores, run_sweep

    spec = REPO / "search_spaces" / "cnn_digits.yaml"
    text = spec.read_text().replace("  cpu: 1\n", "  cpu: 1\n  gpu: 0.25\n")
    text = text.replace("concurrency: 2", "concurrency: 4")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cnn_gpu.yaml"
        path.write_text(text)
        loaded = load_spec(path, {"--trials": 8, "--max-epochs": 5, "--name": "gpu-cnn"})
        os.chdir(folder)
        started = time.perf_counter()
        report = run_sweep(
            loaded,
            stores=Stores.resolve(tracking_uri=f"sqlite:///{folder}/mlflow.db", results_dir=folder),
            live=False,
        )
        return {
            "trials": report.counts,
            "best_val_accuracy": report.best["metric"] if report.best else None,
            "wall_s": round(time.perf_counter() - started, 1),
        }


def reports() -> dict[str, Any]:
    import torch

    from tunelab.data import datasets
    from tunelab.reports import default_methods, explain, material_from_state
    from tunelab.sweeps import train_briefly

    out: dict[str, Any] = {}
    for model, dataset in (("cnn", "digits"), ("lstm", "digits_rows")):
        data = datasets.get(dataset).load()
        state = train_briefly(model, data, {"depth": 2, "dropout": 0.3}, 2)[-1][1]
        material = material_from_state(state, data, dataset)
        material.model.to("cuda")
        torch.cuda.synchronize()
        started = time.perf_counter()
        result = explain(material, default_methods(material), 256)
        torch.cuda.synchronize()
        out[model] = {
            "seconds": round(time.perf_counter() - started, 3),
            "sanity_passed": result.sanity_passed,
            "ig_relative_delta": result.summary["faithfulness"][
                "integrated_gradients_completeness"
            ]["relative_delta"],
        }
        print("report", model, out[model], flush=True)
    return out


def gpu_metrics() -> dict[str, Any]:
    """Ray serves the Cluster dashboard's GPU gauges (dashboards/) for every GPU of the node."""
    import importlib.util
    import re
    import socket
    import urllib.request

    import torch

    # Ray's node reporter, which measures the GPUs, runs in its metrics agent (ray[default]).
    missing = [
        name
        for name in ("aiohttp", "prometheus_client", "opentelemetry.exporter.prometheus")
        if importlib.util.find_spec(name.split(".")[0]) is None
    ]
    if missing:
        return {"skipped": f"Ray's metrics agent needs {', '.join(missing)} (ray[default])"}
    gpus = torch.cuda.device_count()
    if gpus == 0:
        return {"skipped": "no CUDA device"}
    import ray

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray.init(address="local", include_dashboard=False, _metrics_export_port=port)
    names = ("ray_node_gpus_utilization", "ray_node_gram_used")
    found: dict[str, set[str]] = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                served = r.read().decode()
            found = {n: set(re.findall(rf'^{n}{{.*GpuIndex="(\d+)"', served, re.M)) for n in names}
            if all(found.values()):
                break
            time.sleep(2)
    finally:
        ray.shutdown()
    return {
        "gpus": gpus,
        "served": {n: sorted(indices) for n, indices in found.items()},
        "every_gpu": all(len(indices) == gpus for indices in found.values()),
    }


FUSION_EPOCHS = int(os.environ.get("FUSION_EPOCHS", "3"))


def _bare_gpu_trial(seed: int) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from fusion import configs  # benchmarks/fusion.py

    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training import Device
    from tunelab.training._supervised import train_supervised

    data = datasets.get("digits").load()
    train_supervised(
        configs("cnn", seed + 1)[seed], data, architectures.get("cnn"),
        max_epochs=FUSION_EPOCHS, report=lambda *_: None, device=Device.pick(True),
    )  # fmt: skip


def fusion() -> dict[str, Any]:

    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from fusion import configs

    from tunelab.data import datasets
    from tunelab.models import architectures
    from tunelab.training import Device, train_fused
    from tunelab.training._supervised import train_supervised

    device = Device.pick(use_gpu=True)
    cuda = device.name == "cuda"  # without one (a dry run of this script), on the CPU

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    data = datasets.get("digits").load()
    arch = architectures.get("cnn")
    samples = len(data.train.y) * FUSION_EPOCHS
    nothing = lambda *_: None  # noqa: E731
    out: dict[str, Any] = {"bf16": device.bf16, "epochs": FUSION_EPOCHS}
    todo = configs("cnn", 64)
    train_fused(todo[:2], data, arch, max_epochs=1, reports=[nothing] * 2, device=device)
    train_supervised(todo[0], data, arch, max_epochs=1, report=nothing, device=device)
    sync()
    started = time.perf_counter()
    train_supervised(todo[0], data, arch, max_epochs=FUSION_EPOCHS, report=nothing, device=device)
    sync()
    alone = time.perf_counter() - started
    out["alone"] = {"samples_per_s": round(samples / alone), "trials_per_hour": round(3600 / alone)}
    for k in (8, 16, 32, 64):
        # The first group of a size pays for cuDNN's choice of kernels for its shapes (the
        # autotuner is on); the groups after it, as in a sweep, do not: both are timed.
        for run in ("first", "next"):
            sync()
            started = time.perf_counter()
            train_fused(todo[:k], data, arch, max_epochs=FUSION_EPOCHS, reports=[nothing] * k,
                        device=device)  # fmt: skip
            sync()
            seconds = time.perf_counter() - started
            out[f"fused_{k}" + ("" if run == "next" else "_first")] = {
                "samples_per_s": round(k * samples / seconds),
                "trials_per_hour": round(k * 3600 / seconds),
                "x_alone": round(k * alone / seconds, 2),
            }
            print("fused", k, run, out[f"fused_{k}"] if run == "next" else seconds, flush=True)

    # What `fusion: auto` measures on this device for the same CNN, and the size it would pick.
    from tunelab.sweeps._fusion import pick_size
    from tunelab.training import fusion_throughput

    rates = fusion_throughput(todo[0], data, arch, sizes=[2, 4, 8, 16, 32, 64], device=device)
    out["auto"] = {
        "examples_per_s": {k: round(rate) for k, rate in rates.items()},
        "picked": pick_size(rates),
    }
    print("auto", out["auto"], flush=True)
    return out


def workers() -> dict[str, Any]:
    """A data-parallel trial over NCCL: a CNN sweep of 2 trials, each on 2 workers of one GPU
    each, where the machine has 2 GPUs; on one GPU two workers would share it, which NCCL
    refuses (and which would test no communication between devices): said so, not run."""
    import torch

    from tunelab.spec import load_spec
    from tunelab.sweeps import Stores, run_sweep

    gpus = torch.cuda.device_count()
    if gpus < 2:
        return {"skipped": f"{gpus} GPU: a 2-GPU trial needs 2 (NCCL cannot share one)"}
    spec = REPO / "search_spaces" / "cnn_digits.yaml"
    text = spec.read_text().replace("  cpu: 1\n", "  cpu: 1\n  gpu: 1\n  workers: 2\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cnn_workers.yaml"
        path.write_text(text)
        loaded = load_spec(path, {"--trials": 2, "--max-epochs": 3, "--name": "gpu-workers"})
        os.chdir(folder)
        started = time.perf_counter()
        report = run_sweep(
            loaded,
            stores=Stores.resolve(tracking_uri=f"sqlite:///{folder}/mlflow.db", results_dir=folder),
            live=False,
        )
        return {
            "gpus": gpus,
            "trials": report.counts,
            "best_val_accuracy": report.best["metric"] if report.best else None,
            "wall_s": round(time.perf_counter() - started, 1),
        }


def packing() -> dict[str, Any]:
    import multiprocessing as mp

    sys.path.insert(0, str(REPO / "benchmarks"))
    from fusion import SHARED, SWEEP_SPEC

    from tunelab.spec import parse_spec
    from tunelab.sweeps import Stores, run_sweep
    from tunelab.training import Device

    cuda = Device.pick(use_gpu=True).name == "cuda"
    out: dict[str, Any] = {}
    # Packing: four trials at once on one GPU, bare processes against tunelab's 0.25 GPU each.
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(4) as pool:
        pool.map(_bare_gpu_trial, range(4))
    bare = time.perf_counter() - started
    shared = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in SHARED["cnn"].items())
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        timings = {}
        for way, trials, extra in (
            ("packed_4", 4, "resources: {cpu: 1, gpu: 0.25}"),
            ("unfused_32", 32, "resources: {cpu: 1, gpu: 0.25}"),
            ("fused_16x2", 32, "resources: {cpu: 1, gpu: 0.5}\nfusion: 16"),
        ):
            text = SWEEP_SPEC.format(model="cnn", trials=trials, epochs=FUSION_EPOCHS,
                                     fusion=extra, constants=shared)  # fmt: skip
            text = text.replace(
                "concurrency: 2", "concurrency: 4" if "0.25" in extra else "concurrency: 2"
            )
            if not cuda:
                text = text.replace(", gpu: 0.25", "").replace(", gpu: 0.5", "")
            loaded = parse_spec(text, f"{way}.yaml", {"--name": way})
            started = time.perf_counter()
            stores = Stores.resolve(tracking_uri=f"sqlite:///{folder}/{way}.db", results_dir=folder)
            report = run_sweep(loaded, stores=stores, live=False)
            timings[way] = time.perf_counter() - started
            assert report.counts["completed"] == trials, report.counts
    out["packing"] = {
        "bare_4_processes_s": round(bare, 2),
        "tunelab_4_at_quarter_gpu_s": round(timings["packed_4"], 2),
        "x_bare": round(timings["packed_4"] / bare, 2),
    }
    out["sweeps_32_trials"] = {
        "unfused_quarter_gpu_s": round(timings["unfused_32"], 2),
        "fused_16_s": round(timings["fused_16x2"], 2),
        "x_unfused": round(timings["unfused_32"] / timings["fused_16x2"], 2),
    }
    return out


STEPS = (
    "fusion",
    "packing",
    "families",
    "sweep",
    "reports",
    "workers",
    "gpu_metrics",
)  # the most wanted first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--steps", nargs="+", default=STEPS, choices=STEPS)
    args = parser.parse_args()
    run = {"families": families, "reports": reports, "sweep": sweep,
           "gpu_metrics": gpu_metrics, "fusion": fusion, "packing": packing,
           "workers": workers}  # fmt: skip
    names = {"sweep": "cnn_sweep_quarter_gpu"}
    out = Path(args.out).resolve()
    result: dict[str, Any] = {}
    home = os.getcwd()
    for step in args.steps:
        # A lease is short: each step's result is written as soon as it is known, and a step
        # that fails is recorded as such without costing the steps after it.
        started = time.perf_counter()
        try:
            result[names.get(step, step)] = run[step]()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            result[names.get(step, step)] = {"failed": f"{type(exc).__name__}: {exc}"}
        finally:
            os.chdir(home)
        print(f"step {step}: {time.perf_counter() - started:.1f} s", flush=True)
        out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
