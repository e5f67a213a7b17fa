"""The dcgan plugin: the DCGAN pair (zoo.nn, shared with wgan_gp). faces.yaml trains it as HW2 did (BCE loss,
Adam(2e-4, betas 0.5/0.999)); faces-cpu.yaml (half width) and default.yaml (the main job on digits) with hinge
loss and Adam(8e-4, betas 0/0.9), chosen by time to quality."""

from __future__ import annotations

import torch

from zoo.gan import GAN, faces_benchmark
from zoo.nn import DCGANDiscriminator, DCGANGenerator, dcgan_init


class DCGAN(GAN):
    """DCGAN (Radford et al. 2015): the HW2 baseline GAN."""

    benchmark = faces_benchmark(steps=20000)

    def build_modules(self) -> dict[str, torch.nn.Module]:
        model, size = self.config.model, self.config.data.image_size
        generator = DCGANGenerator(model.latent_dim, size, model.base_channels)
        discriminator = DCGANDiscriminator(size, model.base_channels)
        generator.apply(dcgan_init)
        discriminator.apply(dcgan_init)
        return {"generator": generator, "discriminator": discriminator}
