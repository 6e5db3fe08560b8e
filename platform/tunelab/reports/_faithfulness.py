"""What every report shares: attributions by each method, the faithfulness checks (Integrated
Gradients' completeness, infidelity, max-sensitivity, the model-randomisation sanity check),
and the supervised report's frame, into which each family puts its own sections."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tunelab.data import DataInfo, DataSplits
from tunelab.reports import _attribution as A
from tunelab.reports._family import Explanation, Family, Material
from tunelab.reports._render import Section, Table

# The model-randomisation sanity check (Adebayo et al. 2018): a method whose attributions on the
# trained model keep this rank correlation or more with those on re-initialised weights fails.
SANITY_MAX_RANK_CORRELATION = 0.5
SANITY_EXAMPLES = 64  # the check's examples: the first of those explained


def attributions_by_method(
    ex: A.Explainer, methods: Sequence[str]
) -> tuple[dict[str, Tensor], Tensor | None]:
    attributions, deltas = {}, None
    for method in methods:
        attributions[method], delta = A.attribute(method, ex)
        if delta is not None:
            deltas = delta
    return attributions, deltas


def faithfulness(
    ex: A.Explainer,
    attributions: dict[str, Tensor],
    deltas: Tensor | None,
    random_ex: A.Explainer,
) -> Section:
    section = Section("Faithfulness", "faithfulness")
    per_method: dict[str, dict[str, Any]] = {}
    n = min(SANITY_EXAMPLES, len(random_ex.x))
    random_ex = dataclasses.replace(random_ex, x=random_ex.x[:n], target=random_ex.target[:n])
    for method, attr in attributions.items():
        random_attr, _ = A.attribute(method, random_ex)
        correlation = A.rank_correlation(attr[:n], random_attr)
        passed = bool(correlation < SANITY_MAX_RANK_CORRELATION)
        per_method[method] = {
            "infidelity": A.infidelity(ex, attr),
            "max_sensitivity": A.max_sensitivity(method, ex),
            "randomisation_rank_correlation": correlation,
            "randomisation_rank_correlation_signed": A.rank_correlation(
                attr[:n], random_attr, absolute=False
            ),
            "sanity_passed": passed,
        }
        if not passed:
            section.flags.append(
                f"{method} fails the model-randomisation check: its attributions on re-initialised "
                f"weights keep a rank correlation of {correlation:.2f} with the trained model's "
                f"(fails at {SANITY_MAX_RANK_CORRELATION}); it shows the input more than the model."
            )
    section.numbers["methods"] = per_method
    section.numbers["sanity_max_rank_correlation"] = SANITY_MAX_RANK_CORRELATION
    if deltas is not None:
        section.numbers["integrated_gradients_completeness"] = A.completeness(ex, deltas)
        c = section.numbers["integrated_gradients_completeness"]
        section.notes.append(
            f"Integrated Gradients completeness: attributions miss f(x) - f(baseline) by "
            f"{c['mean_abs_delta']:.3g} on average ({c['relative_delta']:.1%} of the mean output "
            f"change), at most {c['max_abs_delta']:.3g}, with {A.IG_STEPS} steps."
        )
    section.tables.append(
        Table(
            "Per method (infidelity and max-sensitivity: lower is better)",
            [
                "method",
                "infidelity",
                "max-sensitivity",
                "rank corr. vs random weights",
                "(signed)",
                "sanity",
            ],
            [
                [
                    m,
                    v["infidelity"],
                    v["max_sensitivity"],
                    v["randomisation_rank_correlation"],
                    v["randomisation_rank_correlation_signed"],
                    v["sanity_passed"],
                ]
                for m, v in per_method.items()
            ],
        )
    )
    section.notes.append(
        "Baseline of Integrated Gradients, occlusion and ablation: the training split's mean "
        "example."
    )
    section.notes.append(
        f"Sanity check (Adebayo et al. 2018): each method re-run on the same architecture with "
        f"re-initialised weights; a rank correlation of {SANITY_MAX_RANK_CORRELATION} or more "
        f"between the magnitudes of the two attributions, over the first {SANITY_EXAMPLES} "
        f"examples, fails. The signed correlation is shown too: a method can keep the input's "
        f"magnitudes (a failure) while its signs follow the weights. "
        f"Max-sensitivity on the first "
        f"{A.SENSITIVITY_EXAMPLES} examples, radius {A.SENSITIVITY_RADIUS}."
    )
    return section


def mean_example(data: DataSplits) -> Tensor:
    """The baseline: the training split's mean example."""
    return torch.as_tensor(data.train.x.mean(0, keepdims=True))


def global_attribution(attr: Tensor) -> np.ndarray:
    return attr.abs().mean(0).numpy()


def maps_of(attr: Tensor) -> np.ndarray:
    """(examples, H, W): image attributions summed over channels."""
    return attr.sum(1).numpy()


def show(x: np.ndarray) -> np.ndarray:
    """One example as a displayable image: (H, W) or (H, W, 3)."""
    if x.shape[0] == 3:
        lo, hi = x.min(), x.max()
        return np.transpose((x - lo) / (hi - lo + 1e-12), (1, 2, 0))
    return x.mean(0)


def rgb(x: np.ndarray) -> np.ndarray:
    """A (C, H, W) example in [0, 1] as an (H, W, 3) image, shown as it is (not rescaled)."""
    if x.shape[0] == 3:
        return np.transpose(x, (1, 2, 0)).clip(0, 1)
    return np.repeat(x.mean(0)[..., None], 3, axis=2).clip(0, 1)


def rounded(values: np.ndarray, digits: int = 6) -> Any:
    return np.round(values.astype(float), digits).tolist()


@dataclass(frozen=True)
class Supervised:
    """What a supervised family's sections work from: the model (in explaining mode), the
    examples explained with their labels, outputs and targets, and every method's
    attributions."""

    material: Material
    model: nn.Module
    x: Tensor
    y: np.ndarray
    out: Tensor
    target: Tensor
    explainer: A.Explainer
    attributions: dict[str, Tensor]

    @property
    def classification(self) -> bool:
        return self.material.data.task == "classification"


Sections = Callable[[Supervised], list[Section]]


def explain_supervised(
    m: Material, methods: Sequence[str], examples: int, *, sections: Sections
) -> Explanation:
    """A classifier's or regressor's report: `sections(...)`, the family's own, then
    faithfulness."""
    device = next(m.model.parameters()).device
    x = torch.as_tensor(m.data.val.x[:examples], device=device)
    y = m.data.val.y[:examples]
    classification = m.data.task == "classification"
    with A.explaining(m.model) as model:
        out = A.outputs(model, x)
        if classification:
            target = out.argmax(1)
        else:
            target = torch.zeros(len(x), dtype=torch.long, device=device)
        baseline = mean_example(m.data)
        ex = A.Explainer(model, x, target, baseline, A.last_conv(model))
        attributions, deltas = attributions_by_method(ex, methods)
        random_model = A.randomised_copy(m.rebuild, model)
        with A.explaining(random_model):
            random_ex = A.Explainer(random_model, x, target, baseline, A.last_conv(random_model))
            faith = faithfulness(ex, attributions, deltas, random_ex)
        frame = Supervised(m, model, x, y, out, target, ex, attributions)
        own = sections(frame)
    return explanation([*own, faith], attributions, methods)


def supervised_family(
    name: str,
    methods: tuple[str, ...],
    matches: Callable[[dict[str, Any], DataInfo], bool],
    sections: Sections,
    *,
    priority: int = 0,
) -> Family:
    """A family of classifiers or regressors: its own sections, then faithfulness."""

    def explain(m: Material, methods: Sequence[str], examples: int) -> Explanation:
        return explain_supervised(m, methods, examples, sections=sections)

    return Family(name, methods, matches, explain, priority)


def explanation(
    sections: list[Section], attributions: dict[str, Tensor], methods: Sequence[str]
) -> Explanation:
    faith = next(s for s in sections if s.key == "faithfulness")
    sanity = all(v["sanity_passed"] for v in faith.numbers["methods"].values())
    return Explanation(
        sections=sections,
        summary={s.key: s.numbers for s in sections},
        global_attribution=global_attribution(attributions[methods[0]]).ravel(),
        sanity_passed=sanity,
        flags=[flag for s in sections for flag in s.flags],
    )
