"""SAGAN networks (Zhang et al. 2018) as printed in the reference report (heykeetae/Self-Attention-GAN).

At 64x64 with base_channels 64: G is spectral-normalised ConvTranspose 128->512->256->128->64 with
BatchNorm+ReLU, self-attention after the 128- and 64-channel stages, then ConvTranspose 64->3 and
Tanh. D is spectral-normalised Conv 3->64->128->256->512 with LeakyReLU(0.1), self-attention after
the 256- and 512-channel stages, then Conv 512->1 (no sigmoid: the hinge loss takes raw scores).
Other power-of-two sizes add or drop one stage per factor of two; attention stays on the last two.
`attention_max_size` drops the attention blocks on feature maps larger than that many pixels a side:
attention over n positions costs n^2, so G's 32x32 block is 16x the cost of its 16x16 one and most of
a CPU step (the faces-cpu recipe keeps 16x16 and below).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from zoo.nn import stride2_stages


class SelfAttention(nn.Module):
    """Attention over all positions of a feature map; out = gamma * attention + x, gamma starts at 0
    so the block begins as the identity and the network learns how much non-local context to use."""

    def __init__(self, channels: int):
        super().__init__()
        self.query_conv = nn.Conv2d(channels, channels // 8, 1)
        self.key_conv = nn.Conv2d(channels, channels // 8, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query = rearrange(self.query_conv(x), "b c h w -> b (h w) c")
        key = rearrange(self.key_conv(x), "b c h w -> b c (h w)")
        attention = torch.softmax(query @ key, dim=-1)  # (b, hw, hw): row i = where position i looks
        value = rearrange(self.value_conv(x), "b c h w -> b (h w) c")
        out = rearrange(attention @ value, "b (h w) c -> b c h w", h=x.shape[2])
        return self.gamma * out + x


def _attends(size: int, max_size: int) -> bool:
    return not max_size or size <= max_size


class Generator(nn.Module):
    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 64,
        base_channels: int = 64,
        channels: int = 3,
        attention_max_size: int = 0,
    ):
        super().__init__()
        stages = stride2_stages(image_size)
        width = base_channels * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            spectral_norm(nn.ConvTranspose2d(latent_dim, width, 4, 1, 0)),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        for stage in range(stages - 1):
            layers += [
                spectral_norm(nn.ConvTranspose2d(width, width // 2, 4, 2, 1)),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(),
            ]
            width //= 2
            if stage >= stages - 3 and _attends(4 * 2 ** (stage + 1), attention_max_size):  # the last two stages
                layers.append(SelfAttention(width))
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, image_size: int = 64, base_channels: int = 64, channels: int = 3, attention_max_size: int = 0):
        super().__init__()
        stages = stride2_stages(image_size)
        width = base_channels
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.1)]
        for stage in range(stages - 1):
            layers += [spectral_norm(nn.Conv2d(width, width * 2, 4, 2, 1)), nn.LeakyReLU(0.1)]
            width *= 2
            if stage >= stages - 3 and _attends(image_size // 2 ** (stage + 2), attention_max_size):
                layers.append(SelfAttention(width))
        layers.append(nn.Conv2d(width, 1, 4, 1, 0))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)
