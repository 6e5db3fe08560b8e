"""Captum's attribution methods behind one batched call, and the checks of their faithfulness.

Every call works through the examples in chunks, and Integrated Gradients and layer conductance
through their scaled inputs in internal batches, so memory stays bounded on any number of
examples. Attributions come back on the CPU, shaped like the inputs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

METHODS = ("integrated_gradients", "saliency", "occlusion", "grad_cam", "feature_ablation")

IG_STEPS = 32  # Gauss-Legendre points: the convergence delta reported says whether they suffice
CHUNK = 128  # examples per attribution call
# Scaled inputs per forward pass inside Integrated Gradients and conductance: measured fastest
# on CPU among 256..8192 (larger batches fall out of cache), and bounds memory on a GPU.
INTERNAL_BATCH = 512
PERTURBATIONS_PER_EVAL = 16  # occluded or ablated copies per forward pass
INFIDELITY_SAMPLES = 8
INFIDELITY_NOISE = 0.1  # standard deviation of the perturbations infidelity checks against
SENSITIVITY_EXAMPLES = 16  # max-sensitivity re-runs the explanation: on the first few examples
SENSITIVITY_SAMPLES = 4
SENSITIVITY_RADIUS = 0.02


@dataclass(frozen=True)
class Explainer:
    """What to explain: `forward` maps a batch of inputs to outputs, `target` picks the output
    explained for each example (the predicted class, or the one output), and `baseline` (one
    example's shape: the training split's mean) is the reference that path and perturbation
    methods measure from. A zero baseline would give every zero input element (a digit's
    background) zero attribution whatever the weights, and fail the randomisation check for it."""

    forward: nn.Module
    x: Tensor
    target: Tensor
    baseline: Tensor
    conv_layer: nn.Module | None = None  # Grad-CAM's layer: the last convolution

    def baselines(self, x: Tensor) -> Tensor:
        return self.baseline.to(x.device, x.dtype).expand_as(x).contiguous()


@contextlib.contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """The model in evaluation mode, except its recurrent layers: cuDNN computes an RNN's
    backward pass only in training mode, so they train with their dropout set to zero, which
    leaves every output as evaluation mode gives it."""
    was_training = model.training
    model.eval()
    recurrent = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    saved = [m.dropout for m in recurrent]
    for module in recurrent:
        module.dropout = 0.0
        module.train()
    try:
        yield model
    finally:
        for module, dropout in zip(recurrent, saved, strict=True):
            module.dropout = dropout
        model.train(was_training)


def last_conv(model: nn.Module) -> nn.Module | None:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    return convs[-1] if convs else None


def attribute(
    method: str, ex: Explainer, x: Tensor | None = None, target: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """(attributions shaped like the inputs, on the CPU; Integrated Gradients' convergence
    deltas, one per example, else None). `x` and `target` default to the explainer's."""
    x = ex.x if x is None else x
    target = ex.target if target is None else target
    parts, deltas = [], []
    for start in range(0, len(x), CHUNK):
        xb, tb = x[start : start + CHUNK], target[start : start + CHUNK]
        attr, delta = _attribute_chunk(method, ex, xb, tb)
        parts.append(attr.detach().float().cpu())
        if delta is not None:
            deltas.append(delta.detach().float().cpu())
    return torch.cat(parts), (torch.cat(deltas) if deltas else None)


def _attribute_chunk(
    method: str, ex: Explainer, x: Tensor, target: Tensor
) -> tuple[Tensor, Tensor | None]:
    from captum import attr

    forward = ex.forward
    if method == "integrated_gradients":
        ig, delta = attr.IntegratedGradients(forward).attribute(
            x,
            baselines=ex.baselines(x),
            target=target,
            n_steps=IG_STEPS,
            internal_batch_size=INTERNAL_BATCH,
            return_convergence_delta=True,
        )
        return ig, delta
    if method == "saliency":
        # An input that does not require gradients yet would make Captum warn.
        x = x.detach().requires_grad_()
        return attr.Saliency(forward).attribute(x, target=target, abs=True), None
    if method == "occlusion":
        window, strides = occlusion_window(tuple(x.shape[1:]))
        return attr.Occlusion(forward).attribute(
            x,
            sliding_window_shapes=window,
            strides=strides,
            baselines=ex.baselines(x),
            target=target,
            perturbations_per_eval=PERTURBATIONS_PER_EVAL,
        ), None
    if method == "feature_ablation":
        return attr.FeatureAblation(forward).attribute(
            x,
            baselines=ex.baselines(x),
            target=target,
            perturbations_per_eval=PERTURBATIONS_PER_EVAL,
        ), None
    if method == "grad_cam":
        assert ex.conv_layer is not None
        cam = attr.LayerGradCam(forward, ex.conv_layer).attribute(
            x, target=target, relu_attributions=True
        )
        cam = attr.LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")
        return cam.expand_as(x), None
    raise ValueError(f"unknown attribution method {method!r}")


def occlusion_window(shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A patch a quarter of the image on each side (all channels at once), moved half a patch
    at a time; one step or feature at a time for other inputs."""
    if len(shape) == 3:
        channels, height, width = shape
        window = (channels, max(1, height // 4), max(1, width // 4))
        return window, (channels, max(1, window[1] // 2), max(1, window[2] // 2))
    if len(shape) == 2:  # (steps, features): one step, every feature
        return (1, shape[1]), (1, shape[1])
    return (1,) * len(shape), (1,) * len(shape)


def layer_conductance(ex: Explainer, layer: nn.Module, *, steps: int = IG_STEPS) -> Tensor:
    """Conductance of each of `layer`'s output units, per example, on the CPU."""
    from captum.attr import LayerConductance

    parts = []
    for start in range(0, len(ex.x), CHUNK):
        xb, tb = ex.x[start : start + CHUNK], ex.target[start : start + CHUNK]
        out = LayerConductance(ex.forward, layer).attribute(
            xb,
            baselines=ex.baselines(xb),
            target=tb,
            n_steps=steps,
            internal_batch_size=INTERNAL_BATCH,
        )
        parts.append(out.detach().float().flatten(1).cpu())
    return torch.cat(parts)


# ---- faithfulness -----------------------------------------------------------------------------


def completeness(ex: Explainer, deltas: Tensor) -> dict[str, float]:
    """How far Integrated Gradients' attributions miss summing to f(x) - f(baseline)."""
    change = _picked(ex.forward, ex.x, ex.target) - _picked(
        ex.forward, ex.baselines(ex.x), ex.target
    )
    gap = change.abs().mean().item()
    mean_delta = deltas.abs().mean().item()
    return {
        "mean_abs_delta": mean_delta,
        "max_abs_delta": deltas.abs().max().item(),
        "mean_abs_output_change": gap,
        "relative_delta": mean_delta / gap if gap > 0 else float("nan"),
    }


def outputs(forward: nn.Module, x: Tensor) -> Tensor:
    """The model's outputs on `x`, a chunk at a time, without gradients."""
    with torch.no_grad():
        return torch.cat([forward(x[s : s + CHUNK]).float() for s in range(0, len(x), CHUNK)])


def _picked(forward: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    return outputs(forward, x).gather(1, target[:, None]).squeeze(1).cpu()


def infidelity(ex: Explainer, attributions: Tensor) -> float:
    """Captum's infidelity (normalised): the mean squared gap between attributions dotted with
    Gaussian perturbations and the output change those perturbations cause. Lower is better."""
    from captum.metrics import infidelity as captum_infidelity

    def perturb(inputs: Tensor) -> tuple[Tensor, Tensor]:
        noise = torch.randn_like(inputs) * INFIDELITY_NOISE
        return noise, inputs - noise

    values = []
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        for start in range(0, len(ex.x), CHUNK):
            sl = slice(start, start + CHUNK)
            values.append(
                captum_infidelity(
                    ex.forward,
                    perturb,
                    ex.x[sl],
                    attributions[sl].to(ex.x.device),
                    target=ex.target[sl],
                    n_perturb_samples=INFIDELITY_SAMPLES,
                    max_examples_per_batch=CHUNK,
                    normalize=True,
                )
                .float()
                .cpu()
            )
    finally:
        torch.random.set_rng_state(generator_state)
    return torch.cat(values).mean().item()


def max_sensitivity(method: str, ex: Explainer) -> float:
    """Captum's max-sensitivity: the largest change of the explanation under perturbations of
    the input within a small L-infinity ball, on the first few examples. Lower is better."""
    from captum.metrics import sensitivity_max

    x = ex.x[:SENSITIVITY_EXAMPLES]

    def explain(inputs: Tensor | tuple[Tensor, ...], target: Tensor) -> Any:
        # Called as Captum's methods are: a tuple of inputs gets a tuple back. The examples come
        # repeated once per perturbation, their targets repeated alike.
        if isinstance(inputs, tuple):
            return (attribute(method, ex, inputs[0], target)[0].to(inputs[0].device),)
        return attribute(method, ex, inputs, target)[0].to(inputs.device)

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        values = sensitivity_max(
            explain,
            x,
            perturb_radius=SENSITIVITY_RADIUS,
            n_perturb_samples=SENSITIVITY_SAMPLES,
            max_examples_per_batch=len(x) * SENSITIVITY_SAMPLES,
            target=ex.target[: len(x)],
        )
    finally:
        torch.random.set_rng_state(generator_state)
    return float(values.float().mean().item())


def rank_correlation(a: Tensor, b: Tensor, *, absolute: bool = True) -> float:
    """Mean over examples of the Spearman correlation of |a| and |b| (of a and b with
    `absolute` false), ties ranked by their average: Adebayo et al. (2018) compare both."""
    from scipy.stats import spearmanr

    a2 = (a.abs() if absolute else a).flatten(1).numpy()
    b2 = (b.abs() if absolute else b).flatten(1).numpy()
    values = []
    for row_a, row_b in zip(a2, b2, strict=True):
        if np.ptp(row_a) == 0 or np.ptp(row_b) == 0:
            continue  # constant: no ranking to compare
        values.append(float(spearmanr(row_a, row_b).statistic))
    return float(np.mean(values)) if values else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def randomised_copy(build: Callable[[], nn.Module], like: nn.Module) -> nn.Module:
    """The same architecture with freshly initialised weights (a fixed seed), on `like`'s device."""
    device = next(like.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        model = build()
    return model.to(device).eval()
