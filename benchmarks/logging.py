"""What tracking costs a training loop, and tunelab's batched path against naive logging.

1. A training loop (a small MLP on the digits, one optimiser step per iteration) reports 5
   metrics every step for 2,000 steps, (a) with no tracking, (b) through tunelab's tracking
   path, against the local store (SQLite) and against a local `mlflow server`.
   Ratio = (b) / (a): the loop's own time, and also end to end, until every point is written.
   Two layouts of (b):
   - trial: as in a sweep, the loop runs in its own process (a trial's Ray worker) and hands
     its points over in chunks of 100 steps (as a trial's report carries them to the driver);
     the driver process enqueues them on the `TrackingWriter`, whose thread writes batches.
   - same process: the loop calls `TrackingWriter.log` itself, the writer thread sharing the
     loop's interpreter (and its GIL).
2. The same 10,000 points against the server: one `mlflow.log_metric` call each (what a user
   writes first) vs tunelab's path, until every point is written.

    .venv/bin/python benchmarks/logging.py [--steps 2000] [--naive-points 10000]

The last line is a JSON object with the ratios.
"""

from __future__ import annotations

import sys

# Run as a script, this file's folder comes first on sys.path, where this file would stand in
# for the standard library's logging.
if sys.path and sys.path[0] == __file__.rsplit("/", 1)[0]:
    sys.path.pop(0)

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

METRICS = ("loss", "accuracy", "grad_norm", "lr", "throughput")


def training_loop(steps: int, log: Any) -> float:
    """Seconds for `steps` optimiser steps, calling `log(step, metrics)` after each."""
    import torch

    from tunelab.data import datasets

    torch.manual_seed(0)
    data = datasets.get("digits").load()
    x = torch.as_tensor(data.train.x).flatten(1)
    y = torch.as_tensor(data.train.y)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for step in range(steps):
        batch = torch.randint(0, len(y), (64,), generator=generator)
        logits = model(x[batch])
        loss = torch.nn.functional.cross_entropy(logits, y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if log is not None:
            values = (loss.item(), 0.5, 1.0, 1e-3, 64.0)
            log(step, dict(zip(METRICS, values, strict=True)))
    return time.perf_counter() - started


CHUNK = 100  # steps per hand-over from the trial process, as per report


def _trial_process(steps: int, connection: Any) -> None:
    """A trial: the loop records points in its own process and sends them every CHUNK steps."""
    import torch

    torch.set_num_threads(1)
    training_loop(20, None)  # warm up before the clock
    connection.send("ready")
    connection.recv()
    pending: list[tuple[int, dict[str, float]]] = []

    def log(step: int, metrics: dict[str, float]) -> None:
        pending.append((step, metrics))
        if len(pending) == CHUNK:
            connection.send(list(pending))
            pending.clear()

    loop = training_loop(steps, log)
    connection.send(list(pending))
    connection.send(("done", loop))


def trial_layout(tracking_uri: str, steps: int) -> tuple[float, float]:
    """(the trial's loop seconds, seconds until every point is written by the driver)."""
    import multiprocessing as mp

    from tunelab.tracking import TrackingWriter

    writer = TrackingWriter(tracking_uri, "bench-logging")
    writer.open_sweep("bench-trial", tags={}, params={})
    writer.wait_ready()
    driver_end, trial_end = mp.get_context("spawn").Pipe()
    trial = mp.get_context("spawn").Process(target=_trial_process, args=(steps, trial_end))
    trial.start()
    assert driver_end.recv() == "ready"
    started = time.perf_counter()
    driver_end.send("go")
    while True:
        message = driver_end.recv()
        if isinstance(message, tuple):
            loop = message[1]
            break
        for step, metrics in message:
            writer.log("__sweep__", step, metrics)
    writer.flush()
    total = time.perf_counter() - started
    trial.join()
    writer.end_run("__sweep__", "FINISHED")
    writer.close()
    assert not writer.failed_writes, writer.failed_writes
    return loop, total


def tunelab_path(tracking_uri: str, steps: int) -> tuple[float, float]:
    """(loop seconds, seconds until every point is written) through TrackingWriter."""
    from tunelab.tracking import TrackingWriter

    writer = TrackingWriter(tracking_uri, "bench-logging")
    writer.open_sweep("bench", tags={}, params={})
    writer.wait_ready()
    started = time.perf_counter()
    loop = training_loop(steps, lambda step, metrics: writer.log("__sweep__", step, metrics))
    writer.flush()
    total = time.perf_counter() - started
    writer.end_run("__sweep__", "FINISHED")
    writer.close()
    assert not writer.failed_writes, writer.failed_writes
    return loop, total


def naive_vs_tunelab(tracking_uri: str, points: int) -> dict[str, float]:
    import mlflow
    from mlflow import MlflowClient

    from tunelab.tracking import TrackingWriter

    steps = points // len(METRICS)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("bench-naive")
    with mlflow.start_run():
        started = time.perf_counter()
        for step in range(steps):
            for name in METRICS:
                mlflow.log_metric(name, 0.5, step=step)
        naive = time.perf_counter() - started

    writer = TrackingWriter(tracking_uri, "bench-naive")
    writer.open_sweep("tunelab", tags={}, params={})
    run_id = writer.wait_ready()
    started = time.perf_counter()
    for step in range(steps):
        writer.log("__sweep__", step, dict.fromkeys(METRICS, 0.5))
    writer.flush()
    batched = time.perf_counter() - started
    writer.close()
    written = MlflowClient(tracking_uri).get_metric_history(run_id, METRICS[0])
    assert len(written) == steps, f"{len(written)} of {steps} points written"
    return {"naive_s": naive, "tunelab_s": batched, "speedup": naive / batched}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{folder}/server.db", "--serve-artifacts", "--artifacts-destination",
         str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("mlflow server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--naive-points", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each loop")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    training_loop(50, None)  # warm up: imports, allocator

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare = min(training_loop(args.steps, None) for _ in range(args.repeats))
        results["bare_s"] = round(bare, 3)
        server, url = start_server(folder)
        try:
            for store, uri in (("local", f"sqlite:///{folder}/local.db"), ("server", url)):
                for layout, path in (("trial", trial_layout), ("same_process", tunelab_path)):
                    runs = [path(uri, args.steps) for _ in range(args.repeats)]
                    loop, total = min(r[0] for r in runs), min(r[1] for r in runs)
                    results[f"{store}_{layout}"] = {
                        "loop_s": round(loop, 3),
                        "until_written_s": round(total, 3),
                        "ratio": round(loop / bare, 3),
                        "ratio_until_written": round(total / bare, 3),
                    }
                    print(f"{store:>6} {layout:>12}: bare {bare:.2f} s, loop {loop:.2f} s "
                          f"(x{loop / bare:.3f}), until written {total:.2f} s", flush=True)  # fmt: skip
            naive = naive_vs_tunelab(url, args.naive_points)
            results["naive_vs_tunelab"] = {k: round(v, 3) for k, v in naive.items()}
            print(f"{args.naive_points} points: naive log_metric {naive['naive_s']:.1f} s, "
                  f"tunelab {naive['tunelab_s']:.2f} s (x{naive['speedup']:.0f})", flush=True)  # fmt: skip
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    print(
        json.dumps(
            {
                "ratio_local": results["local_trial"]["ratio"],
                "ratio_server": results["server_trial"]["ratio"],
                "ratio_local_until_written": results["local_trial"]["ratio_until_written"],
                "ratio_server_until_written": results["server_trial"]["ratio_until_written"],
                "ratio_local_same_process": results["local_same_process"]["ratio"],
                "ratio_server_same_process": results["server_same_process"]["ratio"],
                "naive_over_tunelab": results["naive_vs_tunelab"]["speedup"],
                "details": results,
            }
        )
    )


if __name__ == "__main__":
    main()
