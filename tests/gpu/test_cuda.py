"""Each family on CUDA: trains with autocast, data on the device. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from tunelab.data import datasets
from tunelab.sweeps import train_briefly
from tunelab.training import Device

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
    device = Device.pick(use_gpu=True)
    assert device.name == "cuda" and torch.backends.cudnn.benchmark
    seen = train_briefly(model, data, config, 2, device=device)
    metrics, state = seen[-1]
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(
        t.device.type == "cpu" for t in state["model_state"].values()
    )  # checkpoints load anywhere
    if "val_accuracy" in metrics:
        assert metrics["val_accuracy"] > 1.5 / data.n_classes


@pytest.mark.parametrize("model", ["lstm", "cnn"])
def test_report_explains_a_model_on_the_gpu(model: str) -> None:
    """A model on a GPU is explained there; a recurrent one needs cuDNN's training-mode
    backward, which must leave its outputs as evaluation mode gives them."""
    from tunelab.reports import default_methods, explain, material_from_state

    dataset, config = FAMILIES[model]
    data = datasets.get(dataset).load()
    state = train_briefly(model, data, {**config, "depth": 2, "dropout": 0.3}, 1)[-1][1]
    material = material_from_state(state, data, dataset)
    gpu_model = material.model.to("cuda")
    x = torch.as_tensor(data.val.x[:64], device="cuda")
    with torch.no_grad():
        expected = gpu_model.eval()(x)
    result = explain(material, default_methods(material), 64)
    assert next(gpu_model.parameters()).device.type == "cuda"
    with torch.no_grad():
        assert torch.allclose(gpu_model.eval()(x), expected)
    completeness = result.summary["faithfulness"]["integrated_gradients_completeness"]
    assert completeness["relative_delta"] < 0.1
