"""Precision, recall, density and coverage: how much of the real images' manifold a generator covers,
and how much of what it draws lies on it, from nearest-neighbour balls in a feature space.

Precision and recall are Kynkaanniemi et al. 2019: a sample is "on" a set's manifold when it falls
inside the ball around some member of that set whose radius is the member's distance to its k-th
nearest neighbour in the set. Precision: the share of fakes on the real manifold (are samples
realistic?). Recall: the share of reals on the fake manifold (is the variety there?). Density and
coverage are Naeem et al. 2020, robust to outliers: density counts the real balls each fake falls in
(over k; about 1 for a matching distribution, above 1 where fakes crowd dense regions); coverage is the
share of real balls that hold at least one fake. One k for all four (k = 5, as `prdc` and the density
and coverage paper use), and strict inequality, as `prdc` computes them.
"""

from __future__ import annotations

import numpy as np
import torch

from zoo.errors import DataError

NEAREST_K = 5
_CHUNK = 1024  # rows of a distance matrix at a time: 1024 x 10000 float64 is 80 MB


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of a and of b, in float64 (|a|^2 + |b|^2 - 2ab loses the
    small distances in float32)."""
    squared = a.square().sum(1, keepdim=True) + b.square().sum(1) - 2 * a @ b.T
    return squared.clamp_min(0).sqrt()


def _kth_neighbour_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's distance to its k-th nearest other row (the row itself is the 0th, at distance 0)."""
    return torch.cat(
        [_distances(chunk, features).topk(k + 1, dim=1, largest=False).values[:, k] for chunk in features.split(_CHUNK)]
    )


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, k: int = NEAREST_K) -> dict:
    """The four figures for (N, d) real and (M, d) fake features, with k."""
    if min(len(real), len(fake)) <= k:
        raise DataError(
            f"precision and recall with k = {k} need more than {k} real and {k} generated images; "
            f"got {len(real)} and {len(fake)}"
        )
    real_t, fake_t = torch.from_numpy(real).double(), torch.from_numpy(fake).double()
    real_radii, fake_radii = _kth_neighbour_radii(real_t, k), _kth_neighbour_radii(fake_t, k)
    fake_on_real = torch.zeros(len(fake_t))  # per fake: how many real balls hold it
    real_on_fake = torch.zeros(len(real_t), dtype=torch.bool)
    real_covered = torch.zeros(len(real_t), dtype=torch.bool)
    for start in range(0, len(real_t), _CHUNK):
        rows = slice(start, start + _CHUNK)
        distance = _distances(real_t[rows], fake_t)  # (reals in chunk, fakes)
        inside_real_ball = distance < real_radii[rows, None]
        fake_on_real += inside_real_ball.sum(0)
        real_covered[rows] = inside_real_ball.any(1)
        real_on_fake[rows] = (distance < fake_radii[None, :]).any(1)
    return {
        "precision": (fake_on_real > 0).double().mean().item(),
        "recall": real_on_fake.double().mean().item(),
        "density": (fake_on_real.double().mean() / k).item(),
        "coverage": real_covered.double().mean().item(),
        "nearest_k": k,
    }
