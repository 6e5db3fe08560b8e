"""Every registered architecture on every dataset it supports passes the same checks."""

from __future__ import annotations

import pytest
import torch

from tunelab.data import datasets
from tunelab.models import architectures
from tunelab.training import TASK_METRICS

PAIRS = [
    (model, dataset)
    for model, arch in architectures.items()
    for dataset, ds in datasets.items()
    if ds.task in arch.tasks
]


@pytest.mark.parametrize(("model", "dataset"), PAIRS)
def test_builds_and_predicts_one_row_per_class(model: str, dataset: str) -> None:
    arch = architectures.get(model)
    data = datasets.get(dataset).load(0)
    net = arch.build(dict(arch.hyperparameters), data.info)
    net.eval()
    out = net(torch.as_tensor(data.val.x[:5]))
    assert out.shape == (5, data.n_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("model", list(architectures))
def test_every_hyperparameter_changes_the_model_or_is_declared(model: str) -> None:
    arch = architectures.get(model)
    assert arch.description and arch.tasks <= set(TASK_METRICS)
    data = datasets.get("digits").load(0)
    small = arch.build({**arch.hyperparameters, "depth": 1}, data.info)
    large = arch.build({**arch.hyperparameters, "depth": 3}, data.info)
    assert sum(p.numel() for p in small.parameters()) != sum(p.numel() for p in large.parameters())


def test_digits_splits_are_disjoint_fixed_and_stratified() -> None:
    a, b = datasets.get("digits").load(0), datasets.get("digits").load(0)
    assert (a.test.x == b.test.x).all()
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    rows = {s.x[i].tobytes() for s in (a.train, a.val) for i in range(len(s))}
    assert not any(a.test.x[i].tobytes() in rows for i in range(len(a.test)))
    assert set(a.val.y.tolist()) == set(range(10))
