"""The sagan plugin: spectral norm + self-attention, hinge loss, two time-scale learning rates.

TTUR (Heusel et al. 2017): D learns 4x faster than G (optim.lr_d = 4 x optim.lr_g in default.yaml)
instead of taking several steps per G step; the Adam pair itself is the shared one in zoo.gan.
"""

from __future__ import annotations

import torch

from zoo.gan import GAN, faces_benchmark

from .model import Discriminator, Generator


class SAGAN(GAN):
    """SAGAN (Zhang et al. 2018): spectral norm and self-attention in both networks, hinge loss."""

    benchmark = faces_benchmark(steps=20000)

    def build_modules(self) -> dict[str, torch.nn.Module]:
        model, size = self.config.model, self.config.data.image_size
        # .get: configs written before the key keep the report's placement.
        max_size = model.get("attention_max_size", 0)
        return {
            "generator": Generator(model.latent_dim, size, model.base_channels, attention_max_size=max_size),
            "discriminator": Discriminator(size, model.base_channels, attention_max_size=max_size),
        }
