"""Pictures: image files, grids."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torchvision.utils import make_grid


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8, (N, C, H, W) -> (N, H, W, C)."""
    return images.detach().cpu().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def hw2_names(n: int) -> list[str]:
    """HW2 file names: 0000.png, 0001.png, ... (wider if n needs more digits)."""
    width = max(4, len(str(n - 1)))
    return [f"{i:0{width}d}.png" for i in range(n)]


def save_images(images: torch.Tensor, folder: str | Path, names: Sequence[str]) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for pixels, name in zip(to_uint8(images).numpy(), names, strict=True):
        path = folder / name
        Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(path)
        paths.append(path)
    return paths


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """One PNG with the images in rows of `nrow` (default: as square as possible), 2px padding."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(images.detach().cpu().float(), nrow=nrow, padding=2, pad_value=1.0)
    Image.fromarray(to_uint8(grid.unsqueeze(0))[0].numpy()).save(path)
    return path
