"""What every GAN plugin shares: named losses, the discriminator/generator alternation, sampling.

A GAN plugin subclasses `GAN` and supplies `build_modules` ({"generator", "discriminator"}); the
loss (`gan.loss`), the number of discriminator steps per generator step (`gan.n_critic`), the
DiffAugment policy applied to everything D sees (`gan.diffaugment`, e.g. "color,translation,cutout";
empty for none) and the two Adam optimizers (`optim.lr_g`, `optim.lr_d`, `optim.betas`) come from its
config. Losses take discriminator outputs and return scalars. Sampling uses the EMA of the generator
when the run kept one (`train.ema_decay`).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from zoo.config import Config
from zoo.data import image_dataset
from zoo.diffaugment import diff_augment, parse_policy
from zoo.errors import ConfigError
from zoo.interfaces import BenchmarkSpec, Generator, TrainStep


def _bce(probabilities: torch.Tensor, target: float) -> torch.Tensor:
    # Binary cross-entropy on probabilities is unsafe in half precision: compute it in float32.
    with torch.autocast(device_type=probabilities.device.type, enabled=False):
        p = probabilities.float()
        # F.binary_cross_entropy raises on a NaN input; a diverged D should give a NaN loss instead, which
        # the engine reports and stops on. (No sync: the check stays on the device.)
        nan = torch.isnan(p)
        loss = F.binary_cross_entropy(p.masked_fill(nan, 0.5), torch.full_like(p, target))
        return torch.where(nan.any(), torch.full_like(loss, float("nan")), loss)


def bce_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The original GAN loss on a sigmoid discriminator: -log D(x) - log(1 - D(G(z)))."""
    return _bce(real, 1.0) + _bce(fake, 0.0)


def bce_generator(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    return _bce(fake, 1.0)


def hinge_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def wasserstein_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def wasserstein_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


NOISE_BLOCK = 64  # images per noise draw in `generate`

LOSSES = {
    "bce": (bce_discriminator, bce_generator),
    "hinge": (hinge_discriminator, hinge_generator),
    "wasserstein": (wasserstein_discriminator, wasserstein_generator),
}


def faces_benchmark(steps: int) -> BenchmarkSpec:
    """`zoo benchmark` of a GAN: with --data-root, the HW2 faces at 64x64 (the plugin's faces.yaml; `--quick`
    keeps the default 32x32 config), scored by face rate and FID; without it, the embedded digits."""
    return BenchmarkSpec(data="face/train", config="faces.yaml", metrics=("face_rate", "fid"), steps=steps, quick_steps=60)


@contextmanager
def frozen(module: nn.Module):
    """No parameter gradients for `module` (gradients still flow through it to its input).

    The generator's update backpropagates through the discriminator; without this its gradients
    would also land in the discriminator's .grad and, under gradient accumulation, be summed into
    the discriminator's next update.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GAN(Generator):
    """A generator/discriminator pair trained by alternating updates."""

    ema_modules = ("generator",)
    export_modules = ("generator",)

    # The losses `gan.loss` may name: (discriminator loss, generator loss). A plugin may add its own.
    losses = LOSSES

    def __init__(self, config: Config):
        if config.gan.loss not in self.losses:
            raise ConfigError(f"gan.loss must be one of {', '.join(self.losses)}, got '{config.gan.loss}'")
        if config.gan.n_critic < 1:
            raise ConfigError(f"gan.n_critic must be at least 1, got {config.gan.n_critic}")
        self.discriminator_loss, self.generator_loss = self.losses[config.gan.loss]
        try:
            # .get: a third-party GAN's default.yaml may predate the key.
            self.augment_policy = parse_policy(config.gan.get("diffaugment", ""))
        except ValueError as exc:
            raise ConfigError(f"gan.diffaugment: {exc}") from None
        super().__init__(config)

    def latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.config.model.latent_dim, 1, 1, generator=generator, device=device)

    def train_dataset(self) -> torch.utils.data.Dataset:
        return image_dataset(self.config.data)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam per network, from optim.lr_g, optim.lr_d and optim.betas (override for others)."""
        optim = self.config.optim
        return {
            "generator": torch.optim.Adam(self.modules["generator"].parameters(), lr=optim.lr_g, betas=tuple(optim.betas)),
            "discriminator": torch.optim.Adam(self.modules["discriminator"].parameters(), lr=optim.lr_d, betas=tuple(optim.betas)),
        }

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees of a batch: DiffAugment with the configured policy (the images themselves if none)."""
        return diff_augment(images, self.augment_policy) if self.augment_policy else images

    def discriminator_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | float:
        """Extra discriminator loss term (e.g. a gradient penalty); none by default."""
        return 0.0

    def training_step(self, batch: dict, step: TrainStep) -> dict[str, torch.Tensor]:
        G, D = self.modules["generator"], self.modules["discriminator"]
        real = batch["image"]
        update_generator = (step.index + 1) % self.config.gan.n_critic == 0

        # One generator forward serves both updates; it only needs a graph when G is updated.
        with torch.set_grad_enabled(update_generator):
            fake = G(self.latent(real.shape[0], device=real.device))

        real, seen_fake = self.augment(real), self.augment(fake)
        d_loss = self.discriminator_loss(D(real), D(seen_fake.detach()))
        d_loss = d_loss + self.discriminator_penalty(real, seen_fake.detach())
        step.optimize("discriminator", d_loss)
        logs = {"loss_d": d_loss.detach()}

        if update_generator:
            # D is frozen here. Its DDP wrapper would wait for gradients that never come, so the
            # generator's loss goes through the bare module.
            bare_D = step.unwrap(D)
            with frozen(bare_D):
                g_loss = self.generator_loss(bare_D(seen_fake))
                step.optimize("generator", g_loss)
            logs["loss_g"] = g_loss.detach()
        return logs

    @torch.no_grad()
    def generate(self, n: int, seed: int, batch_size: int = 256) -> torch.Tensor:
        G = self.modules["generator"].eval()
        device = self.device
        # All noise is drawn up front on the CPU, in whole blocks of NOISE_BLOCK images: image i
        # depends on (seed, i) only, not on n, the batch size or the device. (One randn(n, ...) would
        # not do: CPU randn fills the tail of a tensor differently depending on its length.)
        rng = torch.Generator().manual_seed(seed)
        z = torch.cat([self.latent(NOISE_BLOCK, generator=rng) for _ in range(0, n, NOISE_BLOCK)])[:n]
        return torch.cat([G(chunk.to(device)).float().cpu() for chunk in z.split(batch_size)])
