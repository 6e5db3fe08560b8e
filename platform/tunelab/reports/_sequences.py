"""Sequences (RNN, LSTM, GRU): attribution per step and per feature. Where the data marks the
steps its target depends on with a feature named `marker` (the adding problem does), the share
of attribution on the marked steps."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from tunelab.data import DataInfo
from tunelab.reports._faithfulness import Supervised, rounded, supervised_family
from tunelab.reports._family import Material, register
from tunelab.reports._render import Figure, Section, Table, heatmap, profile

MARKER_FEATURE = "marker"  # a 0/1 feature marking the steps the target depends on
# The headline marked share comes from the first of these the report computed.
MARKED_SHARE_METHODS = ("feature_ablation", "occlusion", "integrated_gradients")


def sequence_sections(frame: Supervised) -> list[Section]:
    if frame.x.dim() != 3:
        return []
    return [sequences_section(frame.material, frame.x.cpu(), frame.attributions)]


def sequences_section(m: Material, x: Tensor, attributions: dict[str, Tensor]) -> Section:
    section = Section("Sequences: which steps and features matter", "sequences")
    _, steps, n_features = x.shape
    features = list(m.data.feature_names) or [f"f{i}" for i in range(n_features)]
    per_step, per_feature = {}, {}
    for method, attr in attributions.items():
        mass = attr.abs()
        total = mass.sum().item() or 1.0
        per_step[method] = mass.sum((0, 2)).numpy() / total
        per_feature[method] = mass.sum((0, 1)).numpy() / total
        section.figures.append(
            Figure(
                f"steps_features_{method}",
                f"Mean |{method}| per step and feature",
                heatmap(
                    mass.mean(0).numpy().T,
                    xlabel="step",
                    ylabel="feature",
                    yticks=features,
                ),
            )
        )
    section.figures.insert(
        0,
        Figure(
            "per_step",
            "Share of attribution mass per step",
            profile(np.arange(1, steps + 1), per_step, xlabel="step", ylabel="share"),
        ),
    )
    section.numbers.update(
        {
            "features": features,
            "share_per_step": {k: rounded(v) for k, v in per_step.items()},
            "share_per_feature": {k: rounded(v) for k, v in per_feature.items()},
        }
    )
    if MARKER_FEATURE in features:
        shares = {method: marked_share(attr, x) for method, attr in attributions.items()}
        measured_by = next((k for k in MARKED_SHARE_METHODS if k in shares), next(iter(shares)))
        section.numbers["marked_share"] = shares[measured_by]
        section.numbers["marked_share_method"] = measured_by
        section.numbers["marked_share_by_method"] = shares
        section.tables.append(
            Table(
                "Adding problem: share of attribution mass on the two marked steps",
                ["method", "share"],
                [[k, v] for k, v in shares.items()],
            )
        )
        section.notes.append(
            f"The target is the sum of the values at the two marked steps: a model that solved "
            f"the task puts its attribution there. Headline share ({measured_by}): "
            f"{shares[measured_by]:.1%}. Ablation replaces one input at a time by the baseline "
            "and measures the output change; Integrated Gradients walks a path of scaled inputs "
            "whose markers are fractions the model never saw, and so spreads some mass over "
            "unmarked steps."
        )
    return section


def marked_share(attr: Tensor, x: Tensor) -> float:
    """Adding problem: the mean share of each sequence's |attribution| on its two marked steps
    (feature 1 is the marker)."""
    mass = attr.abs().sum(2)  # (examples, steps)
    marked = (x[..., 1] > 0.5).float()
    return ((mass * marked).sum(1) / mass.sum(1).clamp_min(1e-12)).mean().item()


def _matches(state: dict[str, Any], info: DataInfo) -> bool:
    return info.input_kind == "sequence"


register(
    supervised_family(
        "sequences",
        ("integrated_gradients", "feature_ablation", "saliency"),
        _matches,
        sequence_sections,
    )
)
