"""Comparing a sweep's best trials: how far they agree on what matters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunelab.reports import _attribution as A
from tunelab.reports._faithfulness import rounded
from tunelab.reports._render import Figure, Section, heatmap


def compare(labels: Sequence[str], globals_: Sequence[np.ndarray]) -> Section:
    """How far the best trials agree on what matters: the Spearman correlation of their global
    attributions, pair by pair."""
    k = len(globals_)
    matrix = np.ones((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            matrix[i, j] = matrix[j, i] = A.spearman(globals_[i], globals_[j])
    section = Section("Do the best trials agree on what matters?", "comparison")
    off = matrix[~np.eye(k, dtype=bool)]
    section.numbers = {
        "trials": list(labels),
        "rank_correlation": rounded(matrix, 4),
        "mean_pairwise": float(np.nanmean(off)) if off.size else float("nan"),
        "min_pairwise": float(np.nanmin(off)) if off.size else float("nan"),
    }
    section.figures.append(
        Figure(
            "agreement",
            "Rank correlation of the trials' global attributions",
            heatmap(
                matrix,
                xlabel="trial",
                ylabel="trial",
                xticks=labels,
                yticks=labels,
                annotate=True,
                vmin=-1,
                vmax=1,
            ),
            "Spearman correlation of each pair's mean |attribution| per input element.",
        )
    )
    return section
