"""DCGAN networks (Radford et al. 2015), as printed in both HW2 reference reports.

At 64x64: G is ConvTranspose 100->512->256->128->64->3 with BatchNorm+ReLU and a Tanh output
(3,576,704 parameters); D is Conv 3->64->128->256->512->1 with LeakyReLU(0.2), BatchNorm from the
second layer on and a Sigmoid output (2,765,568 parameters). Other power-of-two sizes add or drop
one stride-2 stage per factor of two, keeping `base_channels` at the full-resolution end.
"""

from __future__ import annotations

from torch import nn

from zoo.nn import stride2_stages


class Generator(nn.Module):
    def __init__(self, latent_dim: int = 100, image_size: int = 64, base_channels: int = 64, channels: int = 3):
        super().__init__()
        stages = stride2_stages(image_size)
        width = base_channels * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    """`critic=True` drops BatchNorm and the Sigmoid: the WGAN-GP critic, whose gradient penalty is
    per-sample (BatchNorm would mix samples) and whose scores are unbounded."""

    def __init__(self, image_size: int = 64, base_channels: int = 64, channels: int = 3, critic: bool = False):
        super().__init__()
        stages = stride2_stages(image_size)
        width = base_channels
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(stages - 1):
            norm = [] if critic else [nn.BatchNorm2d(width * 2)]
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), *norm, nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)] + ([] if critic else [nn.Sigmoid()])
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1)


def dcgan_init(module: nn.Module) -> None:
    """Weights from N(0, 0.02); BatchNorm scales from N(1, 0.02), shifts 0 (the DCGAN paper's init)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
