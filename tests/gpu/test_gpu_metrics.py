"""The Cluster dashboard's GPU panels on a machine with GPUs: Ray's node reporter serves the
GPU gauges they read, for every GPU, on the metrics port. Skipped without a GPU (on CPU
machines those queries are checked for valid PromQL and Ray's own names only)."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
import torch
from tests.dashboards.conftest import load_build

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_ray_serves_every_gpu_metric_the_dashboards_read(ray_session: int) -> None:
    build = load_build()
    wanted = {
        name
        for dashboard in build.DASHBOARDS
        for panel in dashboard.panels
        for query in panel.queries
        if query.needs == "gpu"
        for name in re.findall(r"\bray_node_g[a-z_]+", query.expr)
    }
    assert wanted == {"ray_node_gpus_utilization", "ray_node_gram_used"}
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{ray_session}/metrics") as response:
            served = response.read().decode()
        found = {name: re.findall(rf'^{name}{{.*GpuIndex="(\d+)"', served, re.M) for name in wanted}
        if all(found.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    for name, gpus in found.items():
        assert len(set(gpus)) == torch.cuda.device_count(), name
