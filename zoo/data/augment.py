"""Label-preserving augmentation of digit batches, on whatever device the batch is on."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_affine(
    images: torch.Tensor, degrees: float, translate: float, scale_min: float, scale_max: float
) -> torch.Tensor:
    """A random rotation (+-degrees), zoom (scale_min..scale_max) and shift (+-translate of the size)
    per image of an (N, C, H, W) batch, in one batched grid_sample."""
    n = len(images)
    angle = torch.empty(n).uniform_(-degrees, degrees).deg2rad()
    # grid_sample maps output to input coordinates, so a zoom by s is a grid scaled by 1/s.
    inverse_scale = 1.0 / torch.empty(n).uniform_(scale_min, scale_max)
    shift = torch.empty(n, 2).uniform_(-2 * translate, 2 * translate)
    cos, sin = angle.cos() * inverse_scale, angle.sin() * inverse_scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    # Pixels from outside the image take the border colour, as a photo background would continue.
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)
