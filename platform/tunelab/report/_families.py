"""What a report says about each model family, and the faithfulness checks every report has."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from tunelab.data import DataSplits
from tunelab.report import _attribution as A
from tunelab.report._render import Figure, Section, Table, bars, heatmap, image_grid, profile

FAMILIES = ("images", "tabular", "sequences", "gan", "transfer")
DEFAULT_METHODS = {
    "images": ("integrated_gradients", "saliency", "occlusion", "grad_cam"),
    "tabular": ("integrated_gradients", "feature_ablation"),
    "sequences": ("integrated_gradients", "feature_ablation", "saliency"),
    "gan": ("integrated_gradients", "saliency"),
    "transfer": ("integrated_gradients", "saliency", "occlusion", "grad_cam"),
}
# The model-randomisation sanity check (Adebayo et al. 2018): a method whose attributions on the
# trained model keep this rank correlation or more with those on re-initialised weights fails.
SANITY_MAX_RANK_CORRELATION = 0.5
SANITY_EXAMPLES = 64  # the check's examples: the first of those explained
CONFIDENT_SHOWN = 4  # most and least confident examples shown with their maps
MAX_CLASS_MAPS = 20
PERMUTATION_REPEATS = 5
GAN_SAMPLE_SEED = 1234
# The adding problem's headline share comes from the first of these the report computed.
MARKED_SHARE_METHODS = ("feature_ablation", "occlusion", "integrated_gradients")


@dataclass(frozen=True)
class Material:
    """A trained model and its data, ready to explain."""

    model: nn.Module  # on the device it is explained on
    rebuild: Callable[[], nn.Module]  # the same architecture with fresh weights
    state: dict[str, Any]  # the checkpoint
    data: DataSplits
    dataset: str
    family: str


@dataclass
class Explanation:
    sections: list[Section]
    summary: dict[str, Any]
    global_attribution: np.ndarray  # the first method's mean |attribution| per input element
    sanity_passed: bool
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)


def material_from_state(state: dict[str, Any], data: DataSplits, dataset: str) -> Material:
    """The model a checkpoint holds, rebuilt (on the CPU), with its data. Raises ValueError
    for a family no report covers; KeyError or NotFoundError for a model it cannot rebuild."""
    from tunelab.plugins import resolve_architecture
    from tunelab.tracking._torch_model import build_from_state

    loaded = build_from_state(state)
    arch = resolve_architecture(state["architecture"])
    hyperparameters = {**arch.hyperparameters, **state["model_hparams"]}
    family = family_of(state, loaded.info.input_kind)
    if family is None:
        raise ValueError(
            f"no report for a model of family '{state['architecture']}' with "
            f"{loaded.info.input_kind} inputs {loaded.info.input_shape}; reports cover "
            f"{', '.join(FAMILIES)}"
        )
    return Material(
        model=loaded.model,
        rebuild=lambda: arch.build(hyperparameters, loaded.info),
        state=state,
        data=data,
        dataset=dataset,
        family=family,
    )


def has_convolution(material: Material) -> bool:
    """Whether Grad-CAM has a layer to work on (a GAN's is its discriminator's)."""
    return A.last_conv(getattr(material.model, "discriminator", material.model)) is not None


def default_methods(material: Material) -> list[str]:
    """The family's methods, without Grad-CAM for a model that has no convolution."""
    methods = list(DEFAULT_METHODS[material.family])
    return methods if has_convolution(material) else [m for m in methods if m != "grad_cam"]


def family_of(state: dict[str, Any], input_kind: str) -> str | None:
    if state.get("trainer") == "gan":
        return "gan"
    if state.get("architecture") == "transfer":
        return "transfer"
    return {"image": "images", "tabular": "tabular", "sequence": "sequences"}.get(input_kind)


def explain(material: Material, methods: Sequence[str], examples: int) -> Explanation:
    started = time.perf_counter()
    if material.family == "gan":
        result = _explain_gan(material, methods, examples)
    else:
        result = _explain_supervised(material, methods, examples)
    result.seconds = time.perf_counter() - started
    return result


# ---- shared: attributions, faithfulness, sanity ---------------------------------------------


def _attributions(
    ex: A.Explainer, methods: Sequence[str]
) -> tuple[dict[str, Tensor], Tensor | None]:
    attributions, deltas = {}, None
    for method in methods:
        attributions[method], delta = A.attribute(method, ex)
        if delta is not None:
            deltas = delta
    return attributions, deltas


def _faithfulness(
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


def _mean_example(data: DataSplits) -> Tensor:
    """The baseline: the training split's mean example."""
    return torch.as_tensor(data.train.x.mean(0, keepdims=True))


def _global(attr: Tensor) -> np.ndarray:
    return attr.abs().mean(0).numpy()


def _maps(attr: Tensor) -> np.ndarray:
    """(examples, H, W): image attributions summed over channels."""
    return attr.sum(1).numpy()


def _show(x: np.ndarray) -> np.ndarray:
    """One example as a displayable image: (H, W) or (H, W, 3)."""
    if x.shape[0] == 3:
        lo, hi = x.min(), x.max()
        return np.transpose((x - lo) / (hi - lo + 1e-12), (1, 2, 0))
    return x.mean(0)


def _rgb(x: np.ndarray) -> np.ndarray:
    """A (C, H, W) example in [0, 1] as an (H, W, 3) image, shown as it is (not rescaled)."""
    if x.shape[0] == 3:
        return np.transpose(x, (1, 2, 0)).clip(0, 1)
    return np.repeat(x.mean(0)[..., None], 3, axis=2).clip(0, 1)


def _r(values: np.ndarray, digits: int = 6) -> Any:
    return np.round(values.astype(float), digits).tolist()


# ---- supervised families ----------------------------------------------------------------------


def _explain_supervised(m: Material, methods: Sequence[str], examples: int) -> Explanation:
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
        baseline = _mean_example(m.data)
        ex = A.Explainer(model, x, target, baseline, A.last_conv(model))
        attributions, deltas = _attributions(ex, methods)
        random_model = A.randomised_copy(m.rebuild, model)
        with A.explaining(random_model):
            random_ex = A.Explainer(random_model, x, target, baseline, A.last_conv(random_model))
            faith = _faithfulness(ex, attributions, deltas, random_ex)
        sections = [faith]
        if m.family in ("images", "transfer") and x.dim() == 4:
            probs = torch.softmax(out, 1).cpu() if classification else None
            sections.insert(0, _images(m, x.cpu(), y, attributions, probs))
        elif m.family == "tabular" or (m.family == "transfer" and x.dim() == 2):
            sections.insert(0, _tabular(m, model, x, y, target, attributions))
        elif x.dim() == 3:
            sections.insert(0, _sequences(m, x.cpu(), attributions))
        if m.family == "transfer":
            sections.insert(1, _conductance(m, ex))
    return _explanation(sections, attributions, methods)


def _explanation(
    sections: list[Section], attributions: dict[str, Tensor], methods: Sequence[str]
) -> Explanation:
    faith = next(s for s in sections if s.key == "faithfulness")
    sanity = all(v["sanity_passed"] for v in faith.numbers["methods"].values())
    return Explanation(
        sections=sections,
        summary={s.key: s.numbers for s in sections},
        global_attribution=_global(attributions[methods[0]]).ravel(),
        sanity_passed=sanity,
        flags=[flag for s in sections for flag in s.flags],
    )


def _images(
    m: Material,
    x: Tensor,
    y: np.ndarray,
    attributions: dict[str, Tensor],
    probs: Tensor | None,
) -> Section:
    section = Section("Images: what the model looks at", "images")
    names = m.data.class_names or tuple(str(c) for c in range(m.data.n_classes))
    maps = {method: _maps(attr) for method, attr in attributions.items()}
    section.figures.append(
        Figure(
            "mean_maps",
            "Mean |attribution| per pixel, by method",
            image_grid([np.abs(v).mean(0) for v in maps.values()], list(maps), columns=len(maps)),
        )
    )
    classes = sorted(set(y.tolist()))[:MAX_CLASS_MAPS]
    per_class: dict[str, dict[str, Any]] = {}
    for method, values in maps.items():
        class_maps = [values[y == c].mean(0) for c in classes]
        per_class[method] = {names[c]: _r(cm, 5) for c, cm in zip(classes, class_maps, strict=True)}
        section.figures.append(
            Figure(
                f"class_maps_{method}",
                f"Average {method} attribution per class",
                image_grid(
                    class_maps,
                    [names[c] for c in classes],
                    columns=min(10, len(classes)),
                    signed=method != "saliency",
                ),
                "Red supports the predicted class, blue speaks against it.",
            )
        )
    section.numbers["per_class_maps"] = per_class
    if probs is not None:
        confidence = probs.max(1).values.numpy()
        order = np.argsort(-confidence)
        most, least = order[:CONFIDENT_SHOWN], order[::-1][:CONFIDENT_SHOWN]
        predicted = probs.argmax(1).numpy()
        for key, title, picked in (
            ("most_confident", "Most confident examples", most),
            ("least_confident", "Least confident examples", least),
        ):
            section.numbers[key] = [
                {
                    "index": int(i),
                    "confidence": float(confidence[i]),
                    "label": names[int(y[i])],
                    "predicted": names[int(predicted[i])],
                }
                for i in picked
            ]
            images, titles = [], []
            for i in picked:
                images.append(_show(x[i].numpy()))
                titles.append(f"{names[int(predicted[i])]} ({confidence[i]:.2f})")
                for method, values in maps.items():
                    images.append(values[i])
                    titles.append(method.replace("_", " "))
            section.figures.append(
                Figure(
                    key,
                    title,
                    image_grid(images, titles, columns=1 + len(maps), cmap="gray"),
                    "Each row: the input (predicted class, confidence), then its maps.",
                )
            )
    return section


def _tabular(
    m: Material,
    model: nn.Module,
    x: Tensor,
    y: np.ndarray,
    target: Tensor,
    attributions: dict[str, Tensor],
) -> Section:
    from sklearn.inspection import permutation_importance

    section = Section("Features: what the model relies on", "tabular")
    n_features = x.shape[1]
    features = list(m.data.feature_names) or [f"x{i}" for i in range(n_features)]
    importance = {method: _global(attr) for method, attr in attributions.items()}
    classification = m.data.task == "classification"

    def score(_estimator: Any, xs: np.ndarray, ys: np.ndarray) -> float:
        out = A.outputs(model, torch.as_tensor(xs, dtype=x.dtype, device=x.device)).cpu()
        if classification:
            return float((out.argmax(1).numpy() == ys).mean())
        return -float(((out.reshape(-1).numpy() - ys) ** 2).mean())

    permuted = permutation_importance(
        _Fitted(),
        x.cpu().numpy(),
        y,
        scoring=score,
        n_repeats=PERMUTATION_REPEATS,
        random_state=0,
    )
    perm = permuted.importances_mean
    agreement = {}
    for method, values in importance.items():
        agreement[method] = {
            "spearman_vs_permutation": A.spearman(values, perm),
            "kendall_vs_permutation": _kendall(values, perm),
            "top5_overlap_with_permutation": len(
                set(np.argsort(-values)[:5]) & set(np.argsort(-perm)[:5])
            )
            / min(5, n_features),
        }
    primary = next(iter(importance))
    ranking = np.argsort(-importance[primary])
    section.numbers.update(
        {
            "features": features,
            "importance": {k: _r(v) for k, v in importance.items()},
            "permutation_importance": {
                "mean": _r(perm),
                "std": _r(permuted.importances_std),
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


class _Fitted:
    """scikit-learn's permutation_importance takes an estimator; the scorer does the work."""

    def fit(self, *_: Any) -> _Fitted:
        return self


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


def _sequences(m: Material, x: Tensor, attributions: dict[str, Tensor]) -> Section:
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
            "share_per_step": {k: _r(v) for k, v in per_step.items()},
            "share_per_feature": {k: _r(v) for k, v in per_feature.items()},
        }
    )
    if m.dataset == "adding":
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


def _conductance(m: Material, ex: A.Explainer) -> Section:
    from tunelab.models._layers import layer_groups

    section = Section("Transfer: conductance of frozen and fine-tuned blocks", "transfer")
    net = getattr(ex.forward, "net", ex.forward)
    frozen = {id(module) for module in getattr(ex.forward, "_frozen", [])}
    blocks: list[dict[str, Any]] = []
    for index, group in enumerate(layer_groups(net)):
        layer = group[0]
        cond = A.layer_conductance(ex, layer)
        total = cond.abs().sum(1)
        sorted_units = cond.abs().mean(0).sort(descending=True).values
        top = max(1, len(sorted_units) // 10)
        blocks.append(
            {
                "block": index + 1,
                "layer": type(layer).__name__,
                "units": int(cond.shape[1]),
                "frozen": id(layer) in frozen,
                "mean_total_abs_conductance": total.mean().item(),
                "mean_total_conductance": cond.sum(1).mean().item(),
                "top10pct_units_share": (
                    sorted_units[:top].sum() / sorted_units.sum().clamp_min(1e-12)
                ).item(),
            }
        )
    section.numbers["blocks"] = blocks
    names = [
        f"{b['block']} {b['layer']} ({'frozen' if b['frozen'] else 'fine-tuned'})" for b in blocks
    ]
    section.figures.append(
        Figure(
            "conductance",
            "Mean total |conductance| per block",
            bars(
                names,
                {"|conductance|": [b["mean_total_abs_conductance"] for b in blocks]},
                xlabel="scaled to the largest block",
                colors=["#7f7f7f" if b["frozen"] else "#1f77b4" for b in blocks],
            ),
            "Grey: frozen blocks kept from the source model; blue: fine-tuned.",
        )
    )
    section.tables.append(
        Table(
            "Blocks",
            [
                "block",
                "layer",
                "units",
                "frozen",
                "mean Σ|cond.|",
                "mean Σcond.",
                "top-10% units share",
            ],
            [
                [
                    b["block"],
                    b["layer"],
                    b["units"],
                    "yes" if b["frozen"] else "no",
                    b["mean_total_abs_conductance"],
                    b["mean_total_conductance"],
                    b["top10pct_units_share"],
                ]
                for b in blocks
            ],
        )
    )
    section.notes.append(
        "Conductance of a layer's units sums, per example, to the output change from the "
        "baseline (the training mean; completeness), so Σcond. is about the same in every block; Σ|cond.| and the "
        "share of the top tenth of units show how spread out each block's contribution is."
    )
    return section


# ---- GAN ----------------------------------------------------------------------------------------


def _explain_gan(m: Material, methods: Sequence[str], examples: int) -> Explanation:
    gan: Any = m.model
    device = next(gan.parameters()).device
    real = torch.as_tensor(m.data.val.x[:examples], device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(GAN_SAMPLE_SEED)
        z = torch.randn(len(real), gan.latent_size)
    gan.eval()
    with torch.no_grad():
        fake = gan(z.to(device)).to(real.dtype)
    x = torch.cat([real, fake])
    target = torch.zeros(len(x), dtype=torch.long, device=device)
    disc = gan.discriminator
    baseline = _mean_example(m.data)
    ex = A.Explainer(disc, x, target, baseline, A.last_conv(disc))
    attributions, deltas = _attributions(ex, methods)

    def fresh_discriminator() -> nn.Module:
        return cast(nn.Module, m.rebuild().discriminator)

    random_disc = A.randomised_copy(fresh_discriminator, disc)
    faith = _faithfulness(
        ex,
        attributions,
        deltas,
        A.Explainer(random_disc, x, target, baseline, A.last_conv(random_disc)),
    )
    section = Section("GAN: what the discriminator looks at", "gan")
    p = torch.sigmoid(A.outputs(disc, x).reshape(-1)).cpu()
    n = len(real)
    section.numbers["discriminator_p_real"] = {
        "real": p[:n].mean().item(),
        "generated": p[n:].mean().item(),
    }
    section.notes.append(
        f"The discriminator rates real validation examples {p[:n].mean().item():.2f} and "
        f"generated ones {p[n:].mean().item():.2f} on average (probability of being real)."
    )
    shares = {}
    for method, attr in attributions.items():
        mass = attr.abs().flatten(1).sum(1)
        shares[method] = {"real": mass[:n].mean().item(), "generated": mass[n:].mean().item()}
        if x.dim() == 4:
            section.figures.append(
                Figure(
                    f"real_vs_generated_{method}",
                    f"Mean |{method}| of the discriminator: real vs generated",
                    image_grid(
                        [_maps(attr[:n]).__abs__().mean(0), _maps(attr[n:]).__abs__().mean(0)],
                        ["real", "generated"],
                        columns=2,
                    ),
                )
            )
    section.numbers["mean_total_abs_attribution"] = shares
    if x.dim() == 4:
        shown = min(8, n)
        images = [_show(v) for v in real[:shown].cpu().numpy()] + [
            _show(v) for v in fake[:shown].cpu().numpy()
        ]
        maps = _maps(attributions[methods[0]])
        images += [maps[i] for i in range(shown)] + [maps[n + i] for i in range(shown)]
        titles = ["real"] * shown + ["generated"] * shown + [methods[0]] * (2 * shown)
        section.figures.append(
            Figure(
                "real_and_generated",
                "Real and generated examples, then their attributions",
                image_grid(images, titles, columns=shown, cmap="gray"),
            )
        )
    history = m.state.get("samples_by_epoch")
    if isinstance(history, Tensor) and history.dim() == 5:
        epochs = history.shape[0]
        section.numbers["sample_grids_epochs"] = list(range(1, epochs + 1))
        images, titles = [], []
        for epoch, samples in enumerate(history.float().numpy() / 255.0, start=1):
            images += [_rgb(sample) for sample in samples]
            titles += [f"epoch {epoch}"] + [""] * (len(samples) - 1)
        section.figures.append(
            Figure(
                "samples_by_epoch",
                "Generated samples, one row per epoch",
                image_grid(images, titles, columns=history.shape[1]),
                "The same latent vectors every epoch: how the generator's samples evolved.",
            )
        )
    else:
        section.notes.append(
            "This checkpoint holds no per-epoch samples (trained before tunelab kept them)."
        )
    return _explanation([section, faith], attributions, methods)


# ---- comparing winners --------------------------------------------------------------------------


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
        "rank_correlation": _r(matrix, 4),
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
