"""Datasets. Every image dataset yields {"image": (3, H, W), ...}: uint8 pixels (ImageFolder keeps its
images in memory so) or floats in [-1, 1]. The engine turns uint8 batches into [-1, 1] floats on the
training device (zoo.data.pixels.to_model_range), so a plugin's training_step always sees floats."""

from zoo.data.images import ImageFolder, image_dataset

__all__ = ["ImageFolder", "image_dataset"]
