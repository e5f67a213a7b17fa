"""Seeded noise that makes an output depend on its seed and its own identity only.

Two rules, one per kind of plugin (zoo.interfaces states them):
- unconditional: image i depends on (seed, i). `block_normal` draws noise in fixed blocks of rows, so
  the first rows are the same whatever n is (one randn(n, ...) would not do: CPU randn fills the tail
  of a tensor differently depending on its length).
- class-conditional: image i depends on (seed, label, rank of i among that label's images).
  `per_image_generators` gives each image its own generator, seeded by that triple.

Noise is drawn on the CPU, so an image is also the same on every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from zoo.errors import ConfigError

BLOCK = 64  # rows per draw in `block_normal`


def block_normal(n: int, shape: Sequence[int], seed: int) -> torch.Tensor:
    """(n, *shape) standard normal noise on the CPU whose row i depends only on (seed, i)."""
    rng = torch.Generator().manual_seed(seed)
    blocks = [torch.randn(BLOCK, *shape, generator=rng) for _ in range(0, n, BLOCK)]
    return torch.cat(blocks)[:n] if blocks else torch.empty(0, *shape)


def label_ranks(labels: Sequence[int]) -> list[int]:
    """The rank of each entry among the entries with the same label: [3, 3, 7, 3] -> [0, 1, 0, 2]."""
    seen: dict[int, int] = {}
    ranks = []
    for label in labels:
        ranks.append(seen.get(label, 0))
        seen[label] = ranks[-1] + 1
    return ranks


def per_image_generators(labels: Sequence[int], seed: int) -> list[torch.Generator]:
    """One CPU generator per image, seeded by (seed, label, rank): the image then depends on nothing
    else, not on the batch size, the device or how many images of other labels are drawn beside it."""
    generators = []
    for label, rank in zip(labels, label_ranks(labels)):
        state = np.random.SeedSequence([seed, int(label) + 1, rank]).generate_state(2, dtype=np.uint64)[0]
        generators.append(torch.Generator().manual_seed(int(state) & (2**63 - 1)))
    return generators


def per_image_normal(shape: Sequence[int], generators: Sequence[torch.Generator]) -> torch.Tensor:
    """(len(generators), *shape) standard normal noise on the CPU, row i from generators[i]."""
    if not generators:
        return torch.empty(0, *shape)
    return torch.stack([torch.randn(*shape, generator=g) for g in generators])


def class_labels(n: int, num_classes: int, labels=None) -> torch.Tensor:
    """The labels of a class-conditional draw of n images: `labels` checked (n of them, each in
    0..num_classes-1), or 0, 1, ..., num_classes - 1, 0, 1, ... when None."""

    if labels is None:
        return torch.arange(n) % num_classes
    labels = torch.as_tensor(labels, dtype=torch.long).flatten()
    if len(labels) != n:
        raise ConfigError(f"asked for {n} images with {len(labels)} labels; give one label per image")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(f"labels must be in 0..{num_classes - 1}, got {sorted(set(labels.tolist()))}")
    return labels
