"""Each family on CUDA: trains with autocast, data on the device. Skipped without a GPU."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tunelab.data import datasets
from tunelab.models import architectures
from tunelab.preflight import load_source
from tunelab.training._common import Device
from tunelab.training._loops import TRAINERS
from tunelab.training._reference import reference_state

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

FAMILIES = {
    "mlp": ("breast_cancer", {}),
    "cnn": ("digits", {}),
    "rnn": ("digits_rows", {"lr": 1e-2}),
    "lstm": ("digits_rows", {"lr": 1e-2}),
    "gru": ("digits_rows", {"lr": 1e-2}),
    "gan": ("digits", {}),
    "transfer": ("digits_5_9", {}),
}


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_family_trains_two_epochs_on_cuda(model: str) -> None:
    dataset, config = FAMILIES[model]
    data = datasets.get(dataset).load()
    arch = architectures.get(model)
    options: dict[str, Any] = {}
    if model == "gan":
        options["reference"] = reference_state(data)
    if model == "transfer":
        options["source"] = load_source("reference:digits_0_4", None)
    device = Device.pick(use_gpu=True)
    assert device.name == "cuda" and torch.backends.cudnn.benchmark
    seen: list[tuple[dict[str, float], dict[str, Any]]] = []
    TRAINERS[arch.trainer](
        {"seed": 0, **config},
        data,
        arch,
        max_epochs=2,
        report=lambda epoch, metrics, state: seen.append((metrics, state)),
        device=device,
        options=options,
    )
    metrics, state = seen[-1]
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(
        t.device.type == "cpu" for t in state["model_state"].values()
    )  # checkpoints load anywhere
    if "val_accuracy" in metrics:
        assert metrics["val_accuracy"] > 1.5 / data.n_classes
