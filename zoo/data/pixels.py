"""Pixel ranges: datasets keep uint8 in memory; every model here works in [-1, 1]."""

import torch


def uint8_to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (any shape) -> float in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)
