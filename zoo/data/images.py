"""A folder of images (the HW2 `face/train` layout, or any folder of PNG/JPG files)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2 as T

from zoo.config import Config
from zoo.data.embedded import EmbeddedDigits
from zoo.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def to_model_range(image: Image.Image, size: int) -> torch.Tensor:
    """RGB, shorter side resized to `size`, centre-cropped to size x size, scaled to [-1, 1]."""
    transform = T.Compose(
        [
            T.PILToTensor(),
            T.Resize(size, antialias=True),
            T.CenterCrop(size),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    return transform(image.convert("RGB"))


class ImageFolder(torch.utils.data.Dataset):
    """Every image file directly in `root` (sorted by name)."""

    def __init__(self, root: str | Path, image_size: int):
        self.root = Path(root).expanduser()
        self.image_size = image_size
        if not self.root.is_dir():
            raise DataError(f"data.root '{self.root}' is not a folder; point it at a folder of PNG/JPG images")
        self.files = sorted(p for p in self.root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise DataError(
                f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in '{self.root}'; "
                "point data.root at the folder that holds the image files themselves"
            )
        self[0]  # fail now, not mid-run, if the files are not images at all

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path = self.files[index]
        try:
            with Image.open(path) as image:
                return {"image": to_model_range(image, self.image_size)}
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read image {path}: {exc}; remove or replace the file") from None

    def describe(self) -> str:
        return f"{len(self)} images from {self.root}, {self.image_size}x{self.image_size}"


def image_dataset(data: Config) -> torch.utils.data.Dataset:
    """`data.root` if set, else the embedded default dataset."""
    if data.root:
        return ImageFolder(data.root, data.image_size)
    return EmbeddedDigits(data.image_size)
