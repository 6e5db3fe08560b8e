"""Tables: importance per named feature, the global ranking, permutation importance
(scikit-learn) and each method's rank agreement with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tunelab.data import DataInfo
from tunelab.reports import _attribution as A
from tunelab.reports._faithfulness import (
    Supervised,
    global_attribution,
    rounded,
    supervised_family,
)
from tunelab.reports._family import Material, register
from tunelab.reports._render import Figure, Section, Table, bars

PERMUTATION_REPEATS = 5


def tabular_sections(frame: Supervised) -> list[Section]:
    return [
        tabular_section(
            frame.material, frame.model, frame.x, frame.y, frame.target, frame.attributions
        )
    ]


def tabular_section(
    m: Material,
    model: nn.Module,
    x: Tensor,
    y: np.ndarray,
    target: Tensor,
    attributions: dict[str, Tensor],
) -> Section:
    """What a tabular model relies on: each method's global importance per feature, against
    permutation importance (the validation score lost when a feature is shuffled)."""
    section = Section("Features: what the model relies on", "tabular")
    n_features = x.shape[1]
    features = list(m.data.feature_names) or [f"x{i}" for i in range(n_features)]
    importance = {method: global_attribution(attr) for method, attr in attributions.items()}
    classification = m.data.task == "classification"
    permuted = _permutation_importance(model, x, y, classification)
    perm = permuted.importances_mean
    agreement = {
        method: _agreement(values, perm, n_features) for method, values in importance.items()
    }
    primary = next(iter(importance))
    ranking = np.argsort(-importance[primary])
    section.numbers.update(
        {
            "features": features,
            "importance": {k: rounded(v) for k, v in importance.items()},
            "permutation_importance": {
                "mean": rounded(perm),
                "std": rounded(permuted.importances_std),
                "repeats": PERMUTATION_REPEATS,
                "score": "accuracy" if classification else "negative mse",
            },
            "ranking": [features[i] for i in ranking],
            "rank_agreement": agreement,
        }
    )
    section.figures.append(
        Figure(
            "feature_importance",
            "Global importance per feature",
            bars(
                [features[i] for i in ranking],
                {
                    **{k: v[ranking] for k, v in importance.items()},
                    "permutation": perm[ranking],
                },
                xlabel="importance, scaled to each method's largest",
            ),
            "Mean |attribution| over the examples, and the validation score lost when the "
            "feature is shuffled.",
        )
    )
    section.tables.append(
        Table(
            "Rank agreement with permutation importance",
            ["method", "Spearman", "Kendall", "top-5 overlap"],
            [
                [
                    k,
                    v["spearman_vs_permutation"],
                    v["kendall_vs_permutation"],
                    v["top5_overlap_with_permutation"],
                ]
                for k, v in agreement.items()
            ],
        )
    )
    section.tables.append(
        Table(
            "Ranking",
            ["rank", "feature", *importance, "permutation"],
            [
                [r + 1, features[i], *(float(v[i]) for v in importance.values()), float(perm[i])]
                for r, i in enumerate(ranking)
            ],
        )
    )
    return section


def _permutation_importance(
    model: nn.Module, x: Tensor, y: np.ndarray, classification: bool
) -> Any:
    """scikit-learn's permutation importance of the model's accuracy (or negative MSE)."""
    from sklearn.inspection import permutation_importance

    def score(_estimator: Any, xs: np.ndarray, ys: np.ndarray) -> float:
        out = A.outputs(model, torch.as_tensor(xs, dtype=x.dtype, device=x.device)).cpu()
        if classification:
            return float((out.argmax(1).numpy() == ys).mean())
        return -float(((out.reshape(-1).numpy() - ys) ** 2).mean())

    return permutation_importance(
        _Fitted(),
        x.cpu().numpy(),
        y,
        scoring=score,
        n_repeats=PERMUTATION_REPEATS,
        random_state=0,
    )


def _agreement(values: np.ndarray, perm: np.ndarray, n_features: int) -> dict[str, float]:
    """How a method's ranking of the features agrees with permutation importance's."""
    return {
        "spearman_vs_permutation": A.spearman(values, perm),
        "kendall_vs_permutation": _kendall(values, perm),
        "top5_overlap_with_permutation": len(
            set(np.argsort(-values)[:5]) & set(np.argsort(-perm)[:5])
        )
        / min(5, n_features),
    }


class _Fitted:
    """scikit-learn's permutation_importance takes an estimator; the scorer does the work."""

    def fit(self, *_: Any) -> _Fitted:
        return self


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


def _matches(state: dict[str, Any], info: DataInfo) -> bool:
    return info.input_kind == "tabular"


register(
    supervised_family(
        "tabular", ("integrated_gradients", "feature_ablation"), _matches, tabular_sections
    )
)
