"""Datasets. Every image dataset yields {"image": (3, H, W), ...}: uint8 pixels (ImageFolder keeps its
images in memory so) or floats in [-1, 1]. The engine turns uint8 batches into [-1, 1] floats on the
training device (zoo.data.pixels.to_model_range), so a plugin's training_step always sees floats."""

from __future__ import annotations

import torch

from zoo.config import Config
from zoo.data.digits import LabelledDigits, labelled_digits
from zoo.data.images import ImageFolder

__all__ = ["ImageFolder", "image_dataset"]


def image_dataset(data: Config) -> torch.utils.data.Dataset:
    """`data.root` if set, else the train split of the embedded digits (their val split stays held out
    for the digit metrics that score what was trained here)."""
    if data.root:
        return ImageFolder(data.root, data.image_size)
    return LabelledDigits(labelled_digits("", "train", data.image_size))
