"""The Frechet distance between two sets of examples in a fixed classifier's feature space: the
FID recipe (Heusel et al. 2017) with a classifier of the data itself in place of Inception."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn


def feature_extractor(reference: Mapping[str, Any]) -> nn.Module:
    """The reference classifier without its output layer, frozen, in evaluation mode."""
    from tunelab.training._reference import build_reference

    classifier = build_reference(reference)
    if not isinstance(classifier, nn.Sequential):
        raise TypeError("the reference classifier must be an nn.Sequential")
    features = classifier[:-1]
    features.requires_grad_(False)
    return features.eval()


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = features.astype(np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(
    stats_a: tuple[np.ndarray, np.ndarray], stats_b: tuple[np.ndarray, np.ndarray]
) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2). The trace of the square root is taken
    from the eigenvalues of S_a^1/2 S_b S_a^1/2, which is symmetric: no complex sqrtm."""
    (mu_a, cov_a), (mu_b, cov_b) = stats_a, stats_b
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


@torch.inference_mode()
def embed(features: nn.Module, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    parts = [features(x[i : i + batch_size].float()).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy()
