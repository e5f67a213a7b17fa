"""Pixel ranges: datasets keep uint8 in memory; every model here works in [-1, 1]."""

import torch


def uint8_to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (any shape) -> float in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def to_model_range(batch: dict) -> dict:
    """A batch whose "image" is uint8 (as an ImageFolder yields it) with that image in [-1, 1] floats.

    The engine calls this after moving the batch to the training device, so the conversion runs there
    and only a quarter of the bytes travel. Float images pass through unchanged.
    """
    image = batch.get("image")
    if torch.is_tensor(image) and image.dtype == torch.uint8:
        return {**batch, "image": uint8_to_model_range(image)}
    return batch
