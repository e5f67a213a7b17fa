"""The conditional UNet of the HW2 reports (`UNet_conditional`), with configurable widths.

Double 3x3 convs with GroupNorm(1) and GELU; max-pool down, bilinear up with skip connections; a
sinusoidal time embedding, plus a learned label embedding, projected into every down/up block;
multi-head self-attention after the blocks at chosen resolutions.

With channels [64, 128, 256, 256] and attention at every resolution below 28 plus 28 itself on the
way up, this prints as the reports' model. Unlike the reports' (which hard-codes an x2.5 upsample for
3 -> 7 at 28x28), each up block resizes to its skip connection, so any image size works.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None, residual: bool = False):
        super().__init__()
        self.residual = residual
        mid = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
            nn.GroupNorm(1, mid),
            nn.GELU(),
            nn.Conv2d(mid, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(1, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x + self.double_conv(x)) if self.residual else self.double_conv(x)


class SelfAttention(nn.Module):
    """Pre-norm multi-head attention over the H*W positions, then a pre-norm feed-forward, both residual."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.mha = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.ln = nn.LayerNorm(channels)
        self.ff_self = nn.Sequential(
            nn.LayerNorm(channels), nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        normed = self.ln(tokens)
        tokens = tokens + self.mha(normed, normed, normed, need_weights=False)[0]
        tokens = tokens + self.ff_self(tokens)
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class Down(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2), DoubleConv(in_channels, in_channels, residual=True), DoubleConv(in_channels, out_channels)
        )
        self.emb_layer = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_channels))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.maxpool_conv(x)
        return x + self.emb_layer(emb)[:, :, None, None]


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.conv = nn.Sequential(
            DoubleConv(in_channels, in_channels, residual=True), DoubleConv(in_channels, out_channels, in_channels // 2)
        )
        self.emb_layer = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        x = self.conv(torch.cat([skip, x], dim=1))
        return x + self.emb_layer(emb)[:, :, None, None]


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer position encoding of the timestep: (n,) -> (n, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class UNetConditional(nn.Module):
    """eps = unet(x_t, t, y). `y == num_classes` is the null label of classifier-free guidance.

    channels[i] is the width at resolution size / 2**i; there are len(channels) - 1 down blocks, a
    bottleneck at twice the deepest width, and as many up blocks. `attention` lists the feature-map
    sides (e.g. [7]) after whose blocks self-attention runs.
    """

    def __init__(
        self,
        image_size: int = 28,
        image_channels: int = 3,
        channels: Sequence[int] = (64, 128, 256, 256),
        attention: Sequence[int] = (14, 7, 3),
        time_dim: int = 256,
        num_classes: int = 10,
    ):
        super().__init__()
        if len(channels) < 2:
            raise ValueError("the UNet needs at least two widths (one down block)")
        if time_dim % 2:
            raise ValueError(f"time_dim must be even, got {time_dim}")
        self.time_dim = time_dim
        sides = [image_size]
        for _ in channels[1:]:
            sides.append(sides[-1] // 2)
        if sides[-1] < 1:
            raise ValueError(f"{len(channels) - 1} down blocks are too many for {image_size}x{image_size} images")
        attend = set(attention)

        self.inc = DoubleConv(image_channels, channels[0])
        self.downs = nn.ModuleList(Down(channels[i - 1], channels[i], time_dim) for i in range(1, len(channels)))
        self.down_attention = nn.ModuleList(
            SelfAttention(channels[i]) if sides[i] in attend else nn.Identity() for i in range(1, len(channels))
        )
        deepest = channels[-1]
        self.bottleneck = nn.Sequential(
            DoubleConv(deepest, deepest * 2), DoubleConv(deepest * 2, deepest * 2), DoubleConv(deepest * 2, deepest)
        )
        # Up block j joins the skip at level j (width channels[j]) and narrows to channels[j - 1].
        ups, up_attention, width = [], [], deepest
        for j in range(len(channels) - 2, -1, -1):
            out = channels[max(j - 1, 0)]
            ups.append(Up(width + channels[j], out, time_dim))
            up_attention.append(SelfAttention(out) if sides[j] in attend else nn.Identity())
            width = out
        self.ups, self.up_attention = nn.ModuleList(ups), nn.ModuleList(up_attention)
        self.outc = nn.Conv2d(width, image_channels, kernel_size=1)
        self.label_emb = nn.Embedding(num_classes + 1, time_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = sinusoidal_embedding(t, self.time_dim).to(x.dtype) + self.label_emb(labels)
        skips = [self.inc(x)]
        for down, attention in zip(self.downs, self.down_attention):
            skips.append(attention(down(skips[-1], emb)))
        h = self.bottleneck(skips.pop())
        for up, attention in zip(self.ups, self.up_attention):
            h = attention(up(h, skips.pop(), emb))
        return self.outc(h)
