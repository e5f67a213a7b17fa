"""A folder of images (the HW2 `face/train` layout, or any folder of PNG/JPG files), decoded once.

Every image is decoded, resized and cropped when the dataset is built and kept as one uint8 tensor
(7000 faces at 64x64 are 86 MB), so the training loop never touches PIL: a batch is a slice of that
tensor, and the engine turns it into floats on the training device (zoo.data.pixels.to_model_range).
A file that cannot be read stops the run before training starts, with its name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2 as T
from tqdm.auto import tqdm

from zoo.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"'{folder}' is not a folder; point it at a folder of PNG/JPG images")
    # is_file: a folder named like an image (x.png/) is not one.
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any PNG/JPG mode: grey, grey+alpha, palette (with transparency), RGBA, 16-bit."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grey: PIL's convert("RGB") would clip at 255 (almost everything white); scale instead.
        pixels = np.asarray(image, dtype=np.int64)
        scale = 257.0 if pixels.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(pixels / scale, 0, 255).round().astype(np.uint8))
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 pixels of any image file PIL reads, or a DataError naming the file: the one
    way zoo opens an image (a missing, empty, cut-short or non-image file all end here)."""
    try:
        with Image.open(path) as image:
            return np.asarray(rgb(image))
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist; check the path (or the CSV that lists it)") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; remove or replace the file") from None


def decode(path: Path, size: int) -> torch.Tensor:
    """uint8 (3, size, size): shorter side resized to `size`, centre-cropped. DataError naming the file."""
    pixels = torch.from_numpy(read_rgb(path).copy()).permute(2, 0, 1)
    return T.CenterCrop(size)(T.Resize(size, antialias=True)(pixels))


class ImageFolder(torch.utils.data.Dataset):
    """Every image file directly in `root` (sorted by name), held in memory as uint8."""

    def __init__(self, root: str | Path, image_size: int, progress: bool = True):
        self.root = Path(root).expanduser()
        self.image_size = image_size
        if not self.root.is_dir():
            raise DataError(f"data.root '{self.root}' is not a folder; point it at a folder of PNG/JPG images")
        self.files = image_files(self.root)
        if not self.files:
            raise DataError(
                f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in '{self.root}'; "
                "point data.root at the folder that holds the image files themselves"
            )
        self.images = torch.empty(len(self.files), 3, image_size, image_size, dtype=torch.uint8)
        show = progress and len(self.files) >= 500
        for i, path in enumerate(tqdm(self.files, desc="decoding images", unit="img", disable=not show, leave=False)):
            self.images[i] = decode(path, image_size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index]}

    def describe(self) -> str:
        megabytes = self.images.numel() / 2**20
        return (
            f"{len(self)} images from {self.root}, {self.image_size}x{self.image_size} ({megabytes:.0f} MB in memory)"
        )
