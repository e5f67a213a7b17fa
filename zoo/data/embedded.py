"""The embedded default dataset: real handwritten digits, coloured MNIST-M-style, no download.

scikit-learn ships 1797 real 8x8 handwritten digits (`load_digits`) and two colour photographs
(`load_sample_images`) inside its wheel. Each digit is upscaled, its strokes sharpened, and blended
into a crop of a photograph the way MNIST-M was made (Ganin et al. 2016: |photo - digit|), so that
`zoo run <plugin>` trains on something real on any machine, offline. Deterministic for a seed.

The splits are zoo.data.digits.labelled_digits("", split)'s: the first 80% train, the rest held out.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

# Bumped whenever the drawing below changes, so cached benchmark runs on the old drawing are not reused.
EMBEDDED_VERSION = "1"


@lru_cache(maxsize=4)
def mnistm_style_digits(image_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, 3, S, S), int64 labels (N,)) for the 1797 scikit-learn digits."""
    from sklearn.datasets import load_digits, load_sample_images

    digits = load_digits()
    strokes = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    strokes = F.interpolate(strokes, size=image_size, mode="bicubic", align_corners=False).clamp(0, 1)
    # A smooth step turns the blurry upscaled 8x8 blobs into pen-like strokes with soft edges.
    strokes = torch.sigmoid((strokes - 0.45) * 12.0)

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
    return images, torch.from_numpy(digits.target).long()
