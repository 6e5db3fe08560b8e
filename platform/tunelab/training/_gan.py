"""The GAN training loop: discriminator and generator trained together, scored every epoch by
the Frechet distance of generated to real validation examples (lower is better)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from tunelab.data import DataSplits
from tunelab.errors import NonFiniteMetricError
from tunelab.models import Architecture
from tunelab.training._common import CPU, Device, Report, checkpoint_state, load_optimizer
from tunelab.training._contract import split_hyperparameters
from tunelab.training._frechet import embed, feature_extractor, frechet_distance, statistics

# Generated examples scored per epoch, from the same noise every epoch.
SCORED_SAMPLES = 1000
REAL_LABEL = 0.9
# The first few of those, kept in every checkpoint for every epoch so far (as 8-bit images): a
# report shows how the generator's samples evolved.
KEPT_SAMPLES = 16


def generated_distance(
    gan: Any, reference: Mapping[str, Any], real_x: torch.Tensor, *, seed: int
) -> float:
    """The Frechet distance of SCORED_SAMPLES examples generated from seeded noise to `real_x`,
    in the reference classifier's feature space: the epoch's score, on any split (on the CPU)."""
    features = feature_extractor(reference)
    z = torch.randn(SCORED_SAMPLES, gan.latent_size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        generated = gan(z)
    real = statistics(embed(features, real_x))
    return frechet_distance(statistics(embed(features, generated)), real)


# The noise a generator is scored from on the test split: the same for every model compared.
TEST_SEED = 0


def test_scores(gan: Any, data: DataSplits) -> dict[str, float]:
    """test_frechet_distance: generated examples against the test split (on the CPU)."""
    from tunelab.training._reference import reference_state

    test_x = torch.as_tensor(data.test.x)
    distance = generated_distance(gan.cpu().eval(), reference_state(data), test_x, seed=TEST_SEED)
    return {"test_frechet_distance": distance}


def train_gan(
    config: Mapping[str, Any],
    data: DataSplits,
    arch: Architecture,
    *,
    max_epochs: int,
    report: Report,
    restore: Mapping[str, Any] | None = None,
    device: Device = CPU,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Non-saturating GAN losses, Adam for each network with its own learning rate and betas.
    `options["reference"]` is the reference classifier whose features score the samples.

    Long on purpose, as each trainer's loop is: the whole training of a GAN, read top to bottom
    (set-up, restore, each epoch's two steps, scoring, checkpoint)."""
    options = dict(options or {})
    reference = options.pop("reference")
    trainer_hp, model_hp = split_hyperparameters(config, arch, options)
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)
    gan: Any = arch.build(model_hp, data.info).to(device.name)  # a models.GAN
    betas = (float(trainer_hp["beta1"]), float(trainer_hp["beta2"]))
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=float(trainer_hp["lr_g"]), betas=betas)
    opt_d = torch.optim.Adam(
        gan.discriminator.parameters(), lr=float(trainer_hp["lr_d"]), betas=betas
    )
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    first_epoch = 1
    kept: list[torch.Tensor] = []
    if restore is not None:
        kept = list(restore.get("samples_by_epoch", []))
        gan.load_state_dict(restore["model_state"])
        load_optimizer(opt_g, restore["optimizer_g_state"])
        load_optimizer(opt_d, restore["optimizer_d_state"])
        shuffle.set_state(restore["shuffle_state"])
        noise.set_state(restore["noise_state"])
        first_epoch = int(restore["epoch"]) + 1

    features = feature_extractor(reference).to(device.name)
    x_train, _, x_val, _ = device.tensors(data, "train", "val")
    real_stats = statistics(embed(features, x_val))
    fixed_z = torch.randn(
        SCORED_SAMPLES, gan.latent_size, generator=torch.Generator().manual_seed(seed)
    )
    fixed_z = fixed_z.to(device.name)
    n_train, batch_size = len(x_train), int(trainer_hp["batch_size"])

    for epoch in range(first_epoch, max_epochs + 1):
        gan.train()
        order = torch.randperm(n_train, generator=shuffle).to(device.name)
        sums = torch.zeros(2, device=device.name)
        batches = 0
        for start in range(0, n_train, batch_size):
            real = x_train[order[start : start + batch_size]]
            z = torch.randn(len(real), gan.latent_size, generator=noise).to(device.name)
            with device.autocast():
                fake = gan(z)
                real_logits = gan.discriminator(real).float()
                fake_logits = gan.discriminator(fake.detach()).float()
                # One-sided label smoothing: real examples are labelled 0.9, which keeps the
                # discriminator from growing too sure on a small training set.
                loss_d = F.binary_cross_entropy_with_logits(
                    real_logits, torch.full_like(real_logits, REAL_LABEL)
                ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            with device.autocast():
                gen_logits = gan.discriminator(fake).float()
                loss_g = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            sums += torch.stack([loss_d.detach(), loss_g.detach()])
            batches += 1
        loss_d_mean, loss_g_mean = (sums / batches).tolist()
        for name, value in (("loss_d", loss_d_mean), ("loss_g", loss_g_mean)):
            if not math.isfinite(value):
                raise NonFiniteMetricError(name, value, epoch)
        gan.eval()
        with torch.inference_mode():
            generated = gan(fixed_z)
        if not torch.isfinite(generated).all():
            raise NonFiniteMetricError("generated samples", float("nan"), epoch)
        kept.append(
            (generated[:KEPT_SAMPLES].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        )
        distance = frechet_distance(statistics(embed(features, generated)), real_stats)
        if not math.isfinite(distance):
            raise NonFiniteMetricError("frechet_distance", distance, epoch)

        state = checkpoint_state(
            epoch=epoch,
            config=config,
            arch=arch,
            model_hp=model_hp,
            data=data,
            model=gan,
            optimizer_g_state=opt_g.state_dict(),
            optimizer_d_state=opt_d.state_dict(),
            shuffle_state=shuffle.get_state(),
            noise_state=noise.get_state(),
            samples_by_epoch=torch.stack(kept),
        )
        metrics = {"loss_d": loss_d_mean, "loss_g": loss_g_mean, "frechet_distance": distance}
        report(epoch, metrics, state)
