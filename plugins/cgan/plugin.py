"""The cgan plugin: a class-conditional GAN on digits, the one-pass counterpart of ddpm_unet.

Conditional BatchNorm in G, a projection discriminator with spectral norm, hinge loss and two
time-scale learning rates. The training loop, losses and seeded sampling are zoo.gan's: a GAN becomes
class-conditional by setting model.num_classes.
"""

from __future__ import annotations

import torch

from zoo.gan import GAN
from zoo.interfaces import BenchmarkSpec

from .model import Discriminator, Generator


class ConditionalGAN(GAN):
    """Class-conditional GAN: projection discriminator (Miyato & Koyama 2018), conditional BatchNorm, hinge loss."""

    benchmark = BenchmarkSpec(data="digits/mnistm", metrics=("digit_accuracy", "digit_fd"), steps=6000, quick_steps=30)

    def build_modules(self) -> dict[str, torch.nn.Module]:
        model, size = self.config.model, self.config.data.image_size
        return {
            "generator": Generator(model.latent_dim, model.width, model.num_classes, size),
            "discriminator": Discriminator(model.width, model.num_classes, size),
        }
