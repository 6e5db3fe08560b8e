"""GANs: what the discriminator looks at in real and generated examples, and the generator's
samples epoch by epoch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from tunelab.data import DataInfo
from tunelab.reports import _attribution as A
from tunelab.reports._faithfulness import (
    attributions_by_method,
    explanation,
    faithfulness,
    maps_of,
    mean_example,
    rgb,
    show,
)
from tunelab.reports._family import Explanation, Family, Material, register
from tunelab.reports._render import Figure, Section, image_grid
from tunelab.training import generates

GAN_SAMPLE_SEED = 1234


def _explain_gan(m: Material, methods: Sequence[str], examples: int) -> Explanation:
    """What a GAN's discriminator looks at, on real and generated examples alike."""
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
    baseline = mean_example(m.data)
    ex = A.Explainer(disc, x, target, baseline, A.last_conv(disc))
    attributions, deltas = attributions_by_method(ex, methods)

    def fresh_discriminator() -> nn.Module:
        return cast(nn.Module, m.rebuild().discriminator)

    random_disc = A.randomised_copy(fresh_discriminator, disc)
    faith = faithfulness(
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
                        [maps_of(attr[:n]).__abs__().mean(0), maps_of(attr[n:]).__abs__().mean(0)],
                        ["real", "generated"],
                        columns=2,
                    ),
                )
            )
    section.numbers["mean_total_abs_attribution"] = shares
    if x.dim() == 4:
        shown = min(8, n)
        images = [show(v) for v in real[:shown].cpu().numpy()] + [
            show(v) for v in fake[:shown].cpu().numpy()
        ]
        maps = maps_of(attributions[methods[0]])
        images += [maps[i] for i in range(shown)] + [maps[n + i] for i in range(shown)]
        titles = ["real"] * shown + ["generated"] * shown + [methods[0]] * (2 * shown)
        section.figures.append(
            Figure(
                "real_and_generated",
                "Real and generated examples, then their attributions",
                image_grid(images, titles, columns=shown, cmap="gray"),
            )
        )
    _add_sample_history(section, m.state.get("samples_by_epoch"))
    return explanation([section, faith], attributions, methods)


def _add_sample_history(section: Section, history: Any) -> None:
    """The generator's samples of the same latent vectors at each epoch, one row per epoch."""
    if isinstance(history, Tensor) and history.dim() == 5:
        epochs = history.shape[0]
        section.numbers["sample_grids_epochs"] = list(range(1, epochs + 1))
        images, titles = [], []
        for epoch, samples in enumerate(history.float().numpy() / 255.0, start=1):
            images += [rgb(sample) for sample in samples]
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


def _matches(state: dict[str, Any], info: DataInfo) -> bool:
    return generates(state.get("trainer"))


register(Family("gan", ("integrated_gradients", "saliency"), _matches, _explain_gan, priority=20))
