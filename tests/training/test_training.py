from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunelab.data import datasets
from tunelab.errors import NonFiniteMetricError
from tunelab.models import architectures
from tunelab.training import CHECKPOINT_FILE, load_checkpoint, load_model, save_checkpoint
from tunelab.training._supervised import train_supervised


@pytest.fixture(scope="module")
def digits():
    return datasets.get("digits").load()


def run(config, data, epochs, restore=None):
    seen: list[tuple[int, dict, dict]] = []
    train_supervised(
        config,
        data,
        architectures.get("mlp"),
        max_epochs=epochs,
        report=lambda e, m, s: seen.append((e, m, s)),
        restore=restore,
    )
    return seen


def test_learns_digits_and_reports_every_epoch(digits) -> None:
    seen = run({"seed": 0, "lr": 3e-3}, digits, 4)
    assert [e for e, _, _ in seen] == [1, 2, 3, 4]
    assert seen[-1][1]["val_accuracy"] > 0.85
    assert seen[-1][1]["train_loss"] < seen[0][1]["train_loss"]


def test_non_finite_loss_fails_with_its_reason(digits) -> None:
    with pytest.raises(
        NonFiniteMetricError, match=r"^non_finite_metric: train_loss is nan at epoch 1$"
    ):
        run({"seed": 0, "optimizer": "sgd", "lr": 1e12}, digits, 3)


def test_error_survives_pickling_across_processes() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(NonFiniteMetricError("val_loss", float("inf"), 2)))
    assert str(error) == "non_finite_metric: val_loss is inf at epoch 2"


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(digits, tmp_path: Path) -> None:
    config = {"seed": 3, "lr": 1e-2, "optimizer": "sgd", "dropout": 0.0}
    straight = run(config, digits, 3)
    first_two = run(config, digits, 2)
    save_checkpoint(tmp_path, first_two[-1][2])
    resumed = run(config, digits, 3, restore=load_checkpoint(tmp_path))
    assert [e for e, _, _ in resumed] == [3]

    def learned(metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if k != "latency_ms"}  # a timing, not learnt

    assert learned(resumed[0][1]) == pytest.approx(learned(straight[-1][1]), rel=1e-6)


def test_checkpoint_is_atomic_self_describing_and_weights_only(digits, tmp_path: Path) -> None:
    state = run({"seed": 0}, digits, 1)[-1][2]
    path = save_checkpoint(tmp_path, state)
    assert path.name == CHECKPOINT_FILE
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]  # no temp file left behind
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 1 and loaded["architecture"] == "mlp"
    assert loaded["config"] == {"seed": 0} and "torch_version" in loaded


def test_model_rebuilt_from_a_checkpoint_predicts_the_same(digits, tmp_path: Path) -> None:
    state = run({"seed": 0}, digits, 2)[-1][2]
    loaded = load_model(save_checkpoint(tmp_path, state))
    model, info = loaded.model, loaded.info
    reference = architectures.get("mlp").build(state["model_hparams"], info)
    reference.load_state_dict(state["model_state"])
    reference.eval()
    x = torch.as_tensor(digits.val.x[:8])
    assert torch.equal(model(x), reference(x))


def test_a_checkpoint_holding_code_is_refused(tmp_path: Path) -> None:
    torch.save({"format_version": 1, "evil": Path("/")}, tmp_path / CHECKPOINT_FILE)
    from tunelab.errors import UnsafeModelError

    with pytest.raises(UnsafeModelError, match="objects other than tensors and plain data"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("name", ["adding", "wine", "digits"])
def test_the_untrained_level_is_what_the_trainers_metrics_give_a_model_that_ignores_its_input(
    name,
) -> None:
    # ASHA's plateau (scheduler.plateau) starts from these levels: a model that predicts the
    # training split's mean, or its class frequencies, whatever the input.
    from tunelab.training import untrained_metrics
    from tunelab.training._supervised import validation_metrics

    data = datasets.get(name).load()
    y_train = torch.as_tensor(data.train.y)
    y_val = torch.as_tensor(data.val.y)
    if data.task == "regression":
        out = torch.full((len(y_val), 1), float(y_train.float().mean()))
        y = y_val.float()
    else:
        frequency = torch.bincount(y_train.long(), minlength=data.n_classes).double()
        out = (frequency / frequency.sum()).log().expand(len(y_val), -1)
        y = y_val.long()
    measured = validation_metrics(out, y, data.task)
    levels = untrained_metrics(data)
    assert set(levels) == set(measured)
    for metric, (level, ideal) in levels.items():
        assert level == pytest.approx(measured[metric], rel=1e-5), metric
        assert ideal in (0.0, 1.0)
        assert level != pytest.approx(ideal, abs=0.05), metric  # far from a perfect score
