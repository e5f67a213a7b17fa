"""The embedded default dataset: real handwritten digits, no download.

scikit-learn ships 1797 real 8x8 handwritten digits (`load_digits`) and two colour photographs
(`load_sample_images`) inside its wheel. Each digit is upscaled and its strokes sharpened into pen-like
lines, then drawn one of two ways, deterministically:
- `pen_digits`: white strokes on black, the digit in the middle three quarters of the frame, as MNIST
  draws its digits. This is what every plugin trains on without data.root (`labelled_digits("", ...)`).
  With the photograph below, the main job's GAN drew about 40% readable digits in 3000 steps; with pen
  strokes, 70% on the same recipe (benchmarks/results/main-job-recipes-2026-12-02-cpu.md, third round).
- `mnistm_style_digits`: the strokes fill the frame and are blended into a crop of a photograph the way
  MNIST-M was made (Ganin et al. 2016: |photo - digit|). This is the coloured source domain of the
  embedded adaptation scenario (`zoo.data.digits.embedded_domains`).

The splits are zoo.data.digits.labelled_digits("", split)'s: the first 80% train, the rest held out.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

# Bumped whenever a drawing below changes, so cached benchmark runs on the old drawing are not reused.
EMBEDDED_VERSION = "2"
PEN_MARGIN = 0.125  # of the frame on each side, kept black around a pen digit (MNIST: 4 of 28 pixels)


def upscaled_digits(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ink (N, 1, size, size) in [0, 1], bicubic from the 8x8 originals; labels (N,)) for the 1797
    scikit-learn digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    ink = F.interpolate(ink, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    return ink, torch.from_numpy(digits.target).long()


def grey_to_rgb_uint8(ink: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1] -> (N, 3, H, W) uint8, the grey copied to three channels as datasets store it."""
    return ink.mul(255.0).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()


def _strokes(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(strokes (N, 1, size, size) in [0, 1], labels (N,)): the upscaled digits as pen-like strokes."""
    ink, labels = upscaled_digits(size)
    # A smooth step turns the blurry upscaled 8x8 blobs into pen-like strokes with soft edges.
    return torch.sigmoid((ink - 0.45) * 12.0), labels


@lru_cache(maxsize=4)
def pen_digits(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, 3, S, S), grey, white strokes on black; int64 labels (N,))."""
    margin = round(PEN_MARGIN * image_size)
    strokes, labels = _strokes(image_size - 2 * margin)
    strokes = F.pad(strokes, (margin,) * 4)
    return grey_to_rgb_uint8(strokes), labels


@lru_cache(maxsize=4)
def mnistm_style_digits(image_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, 3, S, S), coloured over photographs; int64 labels (N,))."""
    from sklearn.datasets import load_sample_images

    strokes, labels = _strokes(image_size)
    rng = np.random.default_rng(seed)
    photos = [torch.from_numpy(np.array(p)).permute(2, 0, 1).float() for p in load_sample_images().images]
    backgrounds = torch.empty(len(strokes), 3, image_size, image_size)
    for i in range(len(strokes)):
        photo = photos[rng.integers(len(photos))]
        crop = int(rng.integers(image_size, 4 * image_size + 1))
        top = int(rng.integers(photo.shape[1] - crop + 1))
        left = int(rng.integers(photo.shape[2] - crop + 1))
        patch = photo[:, top : top + crop, left : left + crop].unsqueeze(0)
        backgrounds[i] = F.interpolate(patch, size=image_size, mode="bilinear", antialias=True, align_corners=False)[0]
    images = (backgrounds - strokes * 255.0).abs().round().clamp(0, 255).to(torch.uint8)
    return images, labels
