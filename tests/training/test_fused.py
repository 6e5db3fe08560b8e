"""Fused training: members of a group trained as one stacked model end as they would alone."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tunelab.data import datasets
from tunelab.models import architectures
from tunelab.training import shared_part, unfusable
from tunelab.training._fused import train_fused
from tunelab.training._supervised import train_supervised

SHARED = {"depth": 2, "width": 48, "activation": "tanh", "batch_size": 32}
EPOCHS = 3


@pytest.fixture(scope="module")
def digits() -> Any:
    return datasets.get("digits").load()


@pytest.fixture(scope="module")
def digit_rows() -> Any:
    return datasets.get("digits_rows").load()  # each digit as a sequence of its 8 rows


def members(optimizer: str, model: str = "mlp") -> list[dict[str, Any]]:
    """Three members: the same layers and batches, their own optimizer settings, dropout rate
    (none for one: no random draw at all), gradient clipping and seed."""
    own = {
        "cnn": {"channels": 8},
        "rnn": {"hidden": 24},
        "lstm": {"hidden": 24},
        "gru": {"hidden": 24},
    }
    base = {**SHARED, "optimizer": optimizer, **own.get(model, {})}
    return [
        {**base, "lr": 1e-3, "weight_decay": 0.0, "momentum": 0.9, "dropout": 0.1,
         "grad_clip": 0.0, "seed": 0},
        {**base, "lr": 3e-3, "weight_decay": 1e-4, "momentum": 0.5, "dropout": 0.0,
         "grad_clip": 1.0, "seed": 1},
        {**base, "lr": 5e-4, "weight_decay": 1e-3, "momentum": 0.99, "dropout": 0.3,
         "grad_clip": 0.5, "seed": 2},
    ]  # fmt: skip


def alone(config: dict[str, Any], data: Any, model: str = "mlp") -> list[tuple[dict, dict]]:
    seen: list[tuple[dict, dict]] = []
    train_supervised(
        config, data, architectures.get(model), max_epochs=EPOCHS,
        report=lambda epoch, metrics, state: seen.append((metrics, state)),
    )  # fmt: skip
    return seen


def fused(
    configs: list[dict[str, Any]], data: Any, model: str = "mlp", **kwargs: Any
) -> list[list[tuple[dict, dict]]]:
    seen: list[list[tuple[dict, dict]]] = [[] for _ in configs]
    train_fused(
        configs, data, architectures.get(model), max_epochs=EPOCHS,
        reports=[lambda e, m, s, i=i: seen[i].append((m, s)) for i in range(len(configs))],
        **kwargs,
    )  # fmt: skip
    return seen


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize(
    ("model", "optimizer"),
    [
        ("mlp", "adam"), ("mlp", "adamw"), ("mlp", "sgd"), ("cnn", "adam"),
        ("lstm", "adam"), ("gru", "adamw"), ("rnn", "sgd"),
    ],
)  # fmt: skip
def test_each_member_ends_as_it_would_trained_alone(
    digits: Any, digit_rows: Any, model: str, optimizer: str
) -> None:
    """Parameters (batch norm's running statistics too), metrics every epoch, and the
    optimizer's state, within 1e-5 relative: only batched products differ in the last bits.

    Except, in the CNN, a convolution's bias before batch norm: batch norm subtracts the mean,
    so its true gradient is 0 and what it gets is rounding noise, which Adam scales up to full
    steps. Trained alone on two machines it differs as much. Training depends on it only
    through rounding (batch norm subtracts it again), but that rounding grows about tenfold an
    epoch, from where it starts on the CPU at hand: measured after 3 epochs, the train loss
    within 1.3e-5 and every other weight within 1.5e-3 on an AMD EPYC (1e-7 after the first
    epoch), 1.1e-5 on the machine before; Adam's moments, averages of gradients, within 3.4e-2
    there. So 1e-4, 1e-2 and 1e-1 here, against train losses apart by 1e-2 and more after one
    epoch were a member trained with another's settings. Evaluation depends on it through
    the running mean that absorbs it: the validation metrics agree within 2e-2 (measured:
    0.8 %, two of 360 digits).

    The recurrent families read each digit as 8 rows, 2 layers deep with dropout between them
    (measured: 1.8e-6 for the LSTM)."""
    torch.set_num_threads(1)
    if model in ("rnn", "lstm", "gru"):
        digits = digit_rows
    configs = members(optimizer, model)
    together = fused(configs, digits, model)
    noise_driven = (
        {"0.bias", "1.running_mean", "4.bias", "5.running_mean"} if model == "cnn" else set()
    )
    loss_tolerance, val_tolerance, weight_tolerance, moment_tolerance = (
        (1e-4, 2e-2, 1e-2, 1e-1) if model == "cnn" else (1e-5, 1e-5, 1e-5, 1e-5)
    )
    for config, run in zip(configs, together, strict=True):
        expected = alone(config, digits, model)
        assert len(run) == len(expected) == EPOCHS
        for (metrics, state), (want_metrics, want_state) in zip(run, expected, strict=True):
            want_loss = want_metrics["train_loss"]
            assert metrics["train_loss"] == pytest.approx(want_loss, rel=loss_tolerance)
            for name in ("val_loss", "val_accuracy"):
                assert metrics[name] == pytest.approx(want_metrics[name], rel=val_tolerance)
            for name, tensor in want_state["model_state"].items():
                if name not in noise_driven:
                    held = state["model_state"][name].float()
                    assert relative(held, tensor.float()) < weight_tolerance, name
            assert state["epoch"] == want_state["epoch"]
        # Its optimizer's state too, as torch.optim holds it: a checkpoint resumes alone. (At
        # the last epoch: alone, the states reported hold the optimizer's live tensors.)
        held, wanted = run[-1][1]["optimizer_state"], expected[-1][1]["optimizer_state"]
        names = [
            n for n in expected[-1][1]["model_state"] if "running" not in n and "num_" not in n
        ]
        noisy = {i for i, n in enumerate(names) if n in noise_driven}
        assert held["param_groups"] == wanted["param_groups"]
        assert held["state"].keys() == wanted["state"].keys()
        for index, slots in wanted["state"].items():
            assert held["state"][index].keys() == slots.keys()
            for slot, tensor in slots.items():
                if index in noisy:
                    continue  # the optimizer's moments of a bias before batch norm (above)
                assert relative(held["state"][index][slot], tensor) < moment_tolerance, slot
            assert state["config"] == want_state["config"]
    # The members really differ: their own settings made different models.
    first = next(iter(together[0][-1][1]["model_state"]))
    finals = [run[-1][1]["model_state"][first] for run in together]
    assert relative(finals[0], finals[1]) > 1e-2


def test_stopping_a_member_changes_nothing_for_the_others(digits: Any) -> None:
    torch.set_num_threads(1)
    configs = members("adam")
    everyone = fused(configs, digits)
    stopped = fused(configs, digits, stop=lambda number: number == 1)
    assert len(stopped[1]) == 1 and len(stopped[0]) == len(stopped[2]) == EPOCHS
    for i in (0, 2):
        for name, tensor in everyone[i][-1][1]["model_state"].items():
            assert relative(stopped[i][-1][1]["model_state"][name], tensor) < 1e-6, name


@pytest.mark.parametrize(("model", "optimizer"), [("mlp", "adam"), ("mlp", "sgd"), ("cnn", "adam")])
def test_a_group_restored_from_its_members_checkpoints_goes_on_as_if_never_stopped(
    digits: Any, model: str, optimizer: str
) -> None:
    """A fused group whose process died goes on from each member's checkpoint (a retried
    trial's): parameters, optimizer moments and step counts, batch norm's statistics and each
    member's data order. Without dropout, whose masks are drawn afresh, exactly as before."""
    torch.set_num_threads(1)
    configs = [{**config, "dropout": 0.0} for config in members(optimizer, model)]
    straight = fused(configs, digits, model)
    first: list[dict] = [{} for _ in configs]
    train_fused(
        configs, digits, architectures.get(model), max_epochs=1,
        reports=[lambda e, m, s, i=i: first[i].update(s) for i in range(len(configs))],
    )  # fmt: skip
    restored = fused(configs, digits, model, restores=first)
    for run, again in zip(straight, restored, strict=True):
        assert [state["epoch"] for _, state in again] == list(range(2, EPOCHS + 1))
        assert again[-1][0]["train_loss"] == pytest.approx(run[-1][0]["train_loss"], rel=1e-6)
        for name, tensor in run[-1][1]["model_state"].items():
            assert relative(again[-1][1]["model_state"][name].float(), tensor.float()) < 1e-6
        moments = run[-1][1]["optimizer_state"]["state"]
        for index, slots in moments.items():
            for slot, tensor in slots.items():
                held = again[-1][1]["optimizer_state"]["state"][index][slot]
                assert relative(held.float(), tensor.float()) < 1e-6, slot


def test_a_member_whose_loss_turns_non_finite_fails_alone(digits: Any) -> None:
    configs = members("sgd")
    configs[1] = {**configs[1], "lr": 1e12, "grad_clip": 0.0}  # diverges in the first epoch
    failures: list[tuple[int, str]] = []
    runs = fused(
        configs, digits, failed=lambda number, error: failures.append((number, str(error)))
    )
    assert [number for number, _ in failures] == [1]
    assert failures[0][1].startswith("non_finite_metric: train_loss is ")
    assert failures[0][1].endswith(" at epoch 1")
    assert runs[1] == [] and len(runs[0]) == len(runs[2]) == EPOCHS


def test_what_cannot_be_fused_is_refused_by_name(digits: Any) -> None:
    for name in ("mlp", "cnn", "rnn", "lstm", "gru"):
        assert unfusable(architectures.get(name)) is None
    assert "'transfer' cannot be fused" in (unfusable(architectures.get("transfer")) or "")
    assert "gan trainer" in (unfusable(architectures.get("gan")) or "")
    mlp = architectures.get("mlp")
    a, b = members("adam")[:2]
    assert shared_part(a) == shared_part(b)
    assert shared_part(a) != shared_part({**b, "width": 64})
    with pytest.raises(ValueError, match="must differ only in lr, "):
        train_fused([a, {**b, "batch_size": 16}], digits, mlp, max_epochs=1, reports=[print] * 2)
