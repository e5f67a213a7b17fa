"""Datasets. Every image dataset yields {"image": float tensor (3, H, W) in [-1, 1], ...}."""

from zoo.data.embedded import EmbeddedDigits
from zoo.data.images import ImageFolder, image_dataset

__all__ = ["EmbeddedDigits", "ImageFolder", "image_dataset"]
