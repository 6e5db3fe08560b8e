"""The GPU check, in one run on one CUDA device (a few minutes):

  1. every family trains 2 epochs on CUDA (bf16 autocast where supported, data on the device,
     cuDNN's autotuner on), timed, with its last metrics;
  2. a CNN sweep of 8 trials at 0.25 GPU per trial (4 at once) through `run_sweep`;
  3. an interpretability report over 256 examples for a CNN and a 2-layer LSTM on the GPU
     (cuDNN's recurrent backward runs in training mode there), timed;
  4. Ray serves the GPU gauges the Cluster dashboard reads, for every GPU (needs the packages
     of ray[default], which run Ray's metrics agent; said so when they are missing).

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
    from tunelab.sweeps import run_sweep

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
            loaded, tracking_uri=f"sqlite:///{folder}/mlflow.db", results_dir=folder, live=False
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.json")
    args = parser.parse_args()
    result = {"families": families(), "reports": reports()}
    result["cnn_sweep_quarter_gpu"] = sweep()
    result["gpu_metrics"] = gpu_metrics()
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
