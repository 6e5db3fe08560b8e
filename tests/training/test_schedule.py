"""A trial that goes on from a checkpoint with other hyperparameters (population based
training) trains with the new ones, and keeps the optimizer's state (its moments, its steps)."""

from __future__ import annotations

import pytest
import torch

from tunelab.data import datasets
from tunelab.sweeps import train_briefly


def test_a_supervised_trial_goes_on_with_its_new_optimizer_settings() -> None:
    torch.set_num_threads(1)
    data = datasets.get("wine").load()
    config = {"lr": 0.01, "weight_decay": 0.0, "batch_size": 16, "dropout": 0.1}
    *_, (_, second) = train_briefly("mlp", data, config, 2)
    before = [float(s["step"]) for s in second["optimizer_state"]["state"].values()]
    changed = {**config, "lr": 0.05, "weight_decay": 0.001, "dropout": 0.3}
    ((_, third),) = train_briefly("mlp", data, changed, 3, restore=second)
    assert third["epoch"] == 3
    (group,) = third["optimizer_state"]["param_groups"]
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.001)
    assert third["model_hparams"]["dropout"] == 0.3
    # Adam went on counting its steps from the checkpoint's, not from zero.
    steps = [float(s["step"]) for s in third["optimizer_state"]["state"].values()]
    assert all(a == 1.5 * b for a, b in zip(steps, before, strict=True)), (steps, before)


def test_a_gan_goes_on_with_its_new_learning_rates_and_betas() -> None:
    torch.set_num_threads(1)
    data = datasets.get("digits").load()
    config = {"lr_g": 2e-3, "lr_d": 1e-3, "beta1": 0.5, "batch_size": 64}
    ((_, first),) = train_briefly("gan", data, config, 1)
    changed = {**config, "lr_g": 1e-3, "lr_d": 5e-4, "beta1": 0.3}
    ((_, second),) = train_briefly("gan", data, changed, 2, restore=first)
    for key, lr in (("optimizer_g_state", 1e-3), ("optimizer_d_state", 5e-4)):
        (group,) = second[key]["param_groups"]
        assert group["lr"] == lr and tuple(group["betas"]) == pytest.approx((0.3, 0.999))
