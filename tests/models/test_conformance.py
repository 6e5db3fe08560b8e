"""Every registered architecture passes the same checks on a task it is built for: it builds,
trains one epoch, beats chance, and its checkpoint reloads to the same outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tunelab.data import datasets
from tunelab.models import architectures
from tunelab.sweeps import train_briefly
from tunelab.training import load_model, reference_state, save_checkpoint
from tunelab.training._frechet import embed, feature_extractor, frechet_distance, statistics
from tunelab.training._supervised import evaluate

# Each architecture's home task: dataset, its options, and a config that learns in one epoch.
HOME: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "mlp": ("breast_cancer", {}, {"lr": 3e-3}),
    "cnn": ("digits", {}, {"lr": 3e-3}),
    "rnn": ("digits_rows", {}, {"lr": 1e-2}),
    "lstm": ("digits_rows", {}, {"lr": 1e-2}),
    "gru": ("digits_rows", {}, {"lr": 1e-2}),
    "gan": ("digits", {}, {"lr_g": 1e-3, "lr_d": 1e-3}),
    "transfer": ("digits_5_9", {}, {"init": "pretrained"}),
}


def test_every_architecture_has_a_home_task() -> None:
    assert set(HOME) == set(architectures)


@pytest.fixture(scope="module")
def digits_reference() -> dict[str, Any]:
    return reference_state(datasets.get("digits").load())


@pytest.mark.parametrize("model", sorted(HOME))
def test_trains_beats_chance_and_reloads_to_the_same_outputs(
    model: str, digits_reference: dict[str, Any], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    dataset, dataset_options, config = HOME[model]
    data = datasets.get(dataset).load(**dataset_options)
    arch = architectures.get(model)
    seen = train_briefly(model, data, config, 1)
    ((metrics, state),) = seen
    reloaded = load_model(save_checkpoint(tmp_path, state))
    assert reloaded.info == data.info

    if arch.trainer == "gan":
        # Chance: the same generator untrained. Reload: the same samples from the same noise.
        features = feature_extractor(digits_reference)
        real = statistics(embed(features, torch.as_tensor(data.val.x)))
        untrained = arch.build({**arch.hyperparameters}, data.info)
        z = torch.randn(
            1000, reloaded.model.latent_size, generator=torch.Generator().manual_seed(0)
        )
        with torch.inference_mode():
            before = frechet_distance(statistics(embed(features, untrained(z))), real)
            after = frechet_distance(statistics(embed(features, reloaded.model(z))), real)
        assert after == pytest.approx(metrics["frechet_distance"], rel=1e-4)
        assert after < 0.8 * before
        return

    x_val, y_val = torch.as_tensor(data.val.x), torch.as_tensor(data.val.y)
    assert evaluate(reloaded.model, x_val, y_val, data.task) == pytest.approx(
        {k: v for k, v in metrics.items() if k.startswith("val_")}, rel=1e-5
    )
    if data.task == "classification":
        assert metrics["val_accuracy"] > 1.5 / data.n_classes


def test_digits_splits_are_disjoint_fixed_and_stratified() -> None:
    a, b = datasets.get("digits").load(), datasets.get("digits").load()
    assert (a.test.x == b.test.x).all()
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    rows = {s.x[i].tobytes() for s in (a.train, a.val) for i in range(len(s))}
    assert not any(a.test.x[i].tobytes() in rows for i in range(len(a.test)))
    assert set(a.val.y.tolist()) == set(range(10))


def test_tabular_sets_are_standardised_on_the_training_split_only() -> None:
    data = datasets.get("breast_cancer").load()
    assert len(data.feature_names) == 30 and data.feature_names[0] == "mean radius"
    assert abs(data.train.x.mean(axis=0)).max() < 1e-5
    assert abs(data.train.x.std(axis=0) - 1).max() < 1e-4
    assert abs(data.val.x.mean(axis=0)).max() > 1e-3  # validation statistics were not used


def test_transfer_target_has_scarce_labels_and_disjoint_classes() -> None:
    source, target = datasets.get("digits_0_4").load(), datasets.get("digits_5_9").load()
    assert len(target.train) == 250
    assert sorted(target.class_names) == ["5", "6", "7", "8", "9"]
    assert torch.bincount(torch.as_tensor(target.train.y)).tolist() == [50] * 5
    assert set(source.class_names) == {"0", "1", "2", "3", "4"}
