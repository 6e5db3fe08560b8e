from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Reference models (the GAN's scorer, `reference:` transfer sources) are trained into a
    folder of this session's, not the user's cache."""
    folder = tmp_path_factory.mktemp("tunelab-cache")
    before = os.environ.get("TUNELAB_CACHE_DIR")
    os.environ["TUNELAB_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("TUNELAB_CACHE_DIR", None)
    else:
        os.environ["TUNELAB_CACHE_DIR"] = before


def kill_machine(pid: int) -> None:
    """SIGKILL a sweep's driver, its process group and every process under it, as a lost
    machine goes. Ray runs each worker in a process group of its own: killed with the group
    alone, a worker trains on for seconds (2.5 s measured) before its raylet's death reaches
    it, and can finish the trial a test meant to interrupt."""
    import psutil

    try:
        family = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ray_session() -> Iterator[int]:
    """One in-process Ray for every end-to-end sweep in this session; sweeps reuse it. It
    serves its metrics and the sweeps' for Prometheus on the port it yields, every second."""
    import ray

    port = free_port()
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _metrics_export_port=port,
        _system_config={"metrics_report_interval_ms": 1000},
    )
    yield port
    ray.shutdown()


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# As root in a container, without the background-networking flags Chromium keeps trying (and
# failing) to reach Google's hosts.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium driven by selenium, logging the console and the network."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def trained_adding() -> tuple[Any, list[tuple[dict[str, float], dict[str, Any]]]]:
    """The adding problem at T=30 and an LSTM trained on it for 10 epochs: (data, each epoch's
    (metrics, checkpoint state)). Trained once for every test that needs a solved task."""
    import torch

    from tunelab.data import datasets
    from tunelab.sweeps import train_briefly

    torch.set_num_threads(1)
    data = datasets.get("adding").load(length=30, size=3000)
    config = {"lr": 1e-2, "hidden": 32, "batch_size": 32, "grad_clip": 1.0}
    return data, train_briefly("lstm", data, config, 10)
