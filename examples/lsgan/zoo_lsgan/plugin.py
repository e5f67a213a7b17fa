"""LSGAN (Mao et al. 2017): least-squares losses on a DCGAN-style pair of networks.

Everything but the networks and the loss comes from zoo.gan.GAN: the alternating updates, the two
Adam optimizers, the EMA of the generator and seeded sampling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.gan import GAN, LOSSES
from zoo.interfaces import BenchmarkSpec


def least_squares_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]: the a=0, b=1 coding of the paper."""
    return 0.5 * ((real.float() - 1).pow(2).mean() + fake.float().pow(2).mean())


def least_squares_generator(fake: torch.Tensor) -> torch.Tensor:
    """1/2 E[(D(G(z)) - 1)^2]: the generator pulls its samples' scores to the real target."""
    return 0.5 * (fake.float() - 1).pow(2).mean()


def stages(size: int) -> int:
    if size not in (32, 64):
        raise ConfigError(f"lsgan works at data.image_size 32 or 64, got {size}")
    return int(math.log2(size)) - 2  # stride-2 stages between 4x4 and the image


class Generator(nn.Module):
    def __init__(self, latent_dim: int, size: int, width: int):
        super().__init__()
        n = stages(size)
        channels = [width * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 128, 64, 32
        layers = [
            nn.ConvTranspose2d(latent_dim, channels[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """No sigmoid: least squares acts on the raw score."""

    def __init__(self, size: int, width: int):
        super().__init__()
        n = stages(size)
        channels = [width * 2**i for i in range(n)]  # e.g. 32, 64, 128
        layers = [nn.Conv2d(3, channels[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(channels[-1], 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class LSGAN(GAN):
    """LSGAN (Mao et al. 2017): least-squares GAN losses; an example third-party plugin."""

    losses = {**LOSSES, "least_squares": (least_squares_discriminator, least_squares_generator)}
    # `zoo benchmark lsgan`: trained on the embedded digits (data="" keeps them even with --data-root), digit FD.
    benchmark = BenchmarkSpec(steps=3000, quick_steps=60)

    def build_modules(self) -> dict[str, nn.Module]:
        m, size = self.config.model, self.config.data.image_size
        return {"generator": Generator(m.latent_dim, size, m.width), "discriminator": Discriminator(size, m.width)}
