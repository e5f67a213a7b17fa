"""Digit domains for domain adaptation: MNIST-M, SVHN, USPS, MNIST, in the formats users already have.

A *domain* is a name under a data root. It is found, in this order, as
- the HW2 layout:  <root>/<name>/data/*.png with <root>/<name>/train.csv and val.csv (image_name,label);
- USPS HDF5:       <root>/<name>/usps.h5 or <root>/<name>.h5 (groups train/test, each with data/target);
- SVHN .mat:       <root>/<name>/train_32x32.mat and test_32x32.mat (X: HxWx3xN, y: 1-10, 10 means 0).
The split "val" is the native files' "test" split. Every domain comes out as uint8 RGB images of one
size (grey digits are repeated over three channels), held in memory: these sets are small, and
decoding PNGs once beats decoding them every epoch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.data.embedded import grey_to_rgb_uint8, mnistm_style_digits, pen_digits, upscaled_digits
from zoo.data.images import IMAGE_SUFFIXES, decode, image_files
from zoo.data.pixels import uint8_to_model_range
from zoo.errors import DataError

SPLITS = ("train", "val")
NATIVE_SPLIT = {"train": "train", "val": "test"}


@dataclass(frozen=True)
class DigitDomain:
    """One split of one domain: images (N, 3, S, S) uint8, labels (N,) int64, file names (N,)."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    names: tuple[str, ...]
    source: str  # where it was read from, for messages

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self) -> str:
        size = self.images.shape[-1]
        return f"{self.name}/{self.split}: {len(self)} images {size}x{size} from {self.source}"


def _as_rgb_uint8(images: np.ndarray, size: int) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 3) uint8 -> (N, 3, size, size) uint8, resized with antialiasing if needed."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255)
    return x.to(torch.uint8).contiguous()


def read_labels_csv(path: Path, classes: int = 10) -> list[tuple[str, int]]:
    """(image_name, label) rows of an HW2 label CSV, or a DataError that names the problem: a missing
    column, a label that is not a whole number in 0..classes-1, an image listed twice. Extra columns,
    a byte-order mark and Windows line ends are fine."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not rows or not {"image_name", "label"} <= set(rows[0]):
        raise DataError(f"{path} must be a CSV with the header 'image_name,label' (HW2 layout) and at least one row")
    parsed, first_row = [], {}
    for line, row in enumerate(rows, start=2):
        name, label = row["image_name"], (row["label"] or "").strip()
        if not label.isdigit() or int(label) >= classes:
            raise DataError(
                f"{path} line {line}: label '{row['label']}' of {name} is not a whole number in 0..{classes - 1}"
            )
        if name in first_row:
            raise DataError(f"{path} lists {name} twice (lines {first_row[name]} and {line}); keep one row per image")
        first_row[name] = line
        parsed.append((name, int(label)))
    return parsed


def load_hw2(folder: Path, split: str, size: int) -> DigitDomain:
    """<folder>/data/*.png listed in <folder>/<split>.csv."""
    listing = folder / f"{split}.csv"
    rows = read_labels_csv(listing)
    missing = [name for name, _ in rows if not (folder / "data" / name).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError(
            f"{listing} lists {missing[0]}{more}, not found in {folder / 'data'}; fix the CSV or add the files"
        )
    images = torch.stack([decode(folder / "data" / name, size) for name, _ in rows])
    labels = torch.tensor([label for _, label in rows], dtype=torch.int64)
    return DigitDomain(folder.name, split, images, labels, tuple(n for n, _ in rows), str(folder))


def load_image_folder(folder: Path, size: int) -> DigitDomain:
    """Every image file in a folder, unlabelled (label -1), sorted by name: what `zoo predict` reads.
    Given an HW2 domain folder, its data/ subfolder is used."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"'{folder}' is not a folder; point it at a folder of digit images")
    files = image_files(folder)
    if not files and (folder / "data").is_dir():
        return load_image_folder(folder / "data", size)
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in '{folder}'")
    images = torch.stack([decode(p, size) for p in files])
    labels = torch.full((len(files),), -1, dtype=torch.int64)
    return DigitDomain(folder.name, "unlabelled", images, labels, tuple(p.name for p in files), str(folder))


def load_usps_h5(path: Path, split: str, size: int, name: str = "usps") -> DigitDomain:
    """The common `usps.h5`: groups train/test with `data` (N, 256) floats in [0, 1] and `target`."""
    import h5py

    group = NATIVE_SPLIT[split]
    try:
        with h5py.File(path, "r") as f:
            data, target = np.asarray(f[group]["data"]), np.asarray(f[group]["target"])
    except (OSError, KeyError) as exc:
        raise DataError(f"{path} is not a USPS HDF5 file with groups train/test holding data/target: {exc}") from None
    side = int(round(np.sqrt(data.shape[1]))) if data.ndim == 2 else data.shape[-1]
    grey = data.reshape(len(data), side, side)
    grey = (grey * 255.0 if grey.max() <= 1.0 else grey).round().clip(0, 255).astype(np.uint8)
    labels = torch.from_numpy(target.astype(np.int64).reshape(-1))
    names = tuple(f"{group}_{i:05d}" for i in range(len(labels)))
    return DigitDomain(name, split, _as_rgb_uint8(grey, size), labels, names, str(path))


def load_svhn_mat(path: Path, split: str, size: int, name: str = "svhn") -> DigitDomain:
    """SVHN's cropped-digit .mat: X (32, 32, 3, N) uint8, y (N, 1) in 1..10 where 10 is the digit 0."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        X, y = mat["X"], mat["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path} is not an SVHN .mat file with arrays X and y: {exc}") from None
    images = np.transpose(X, (3, 0, 1, 2))
    labels = torch.from_numpy(y.astype(np.int64).reshape(-1) % 10)
    names = tuple(f"{path.stem}_{i:05d}" for i in range(len(labels)))
    return DigitDomain(name, split, _as_rgb_uint8(images, size), labels, names, str(path))


def available_domains(root: Path) -> list[str]:
    """Domain names found under a data root, in any supported format."""
    if not root.is_dir():
        return []
    found = set()
    for entry in root.iterdir():
        if entry.is_dir() and (
            (entry / "train.csv").is_file() or (entry / "usps.h5").is_file() or (entry / "train_32x32.mat").is_file()
        ):
            found.add(entry.name)
        elif entry.suffix == ".h5":
            found.add(entry.stem)
    return sorted(found)


@lru_cache(maxsize=16)
def load_domain(root: str, name: str, split: str, size: int) -> DigitDomain:
    """One split of the domain `name` under `root`, in whichever supported format is there."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got '{split}'")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(
            f"data.root '{base}' is not a folder; point it at the folder holding the domain folders (e.g. "
            "hw2_data/digits)"
        )
    folder = base / name
    if (folder / "train.csv").is_file() or (folder / "val.csv").is_file():
        if not (folder / f"{split}.csv").is_file():
            raise DataError(f"{folder} has no {split}.csv (HW2 layout needs train.csv and val.csv beside data/)")
        return load_hw2(folder, split, size)
    for h5 in (folder / "usps.h5", base / f"{name}.h5"):
        if h5.is_file():
            return load_usps_h5(h5, split, size, name)
    mat = folder / f"{NATIVE_SPLIT[split]}_32x32.mat"
    if mat.is_file():
        return load_svhn_mat(mat, split, size, name)
    found = available_domains(base)
    raise DataError(
        f"no domain '{name}' under {base}; found: {', '.join(found) or 'none'}. A domain is a folder in the HW2 "
        "layout (data/ + train.csv + val.csv), a USPS usps.h5, or SVHN train_32x32.mat/test_32x32.mat"
    )


class LabelledDigits(torch.utils.data.Dataset):
    """{"image": float (3, S, S) in [-1, 1], "label": int64} from a DigitDomain."""

    def __init__(self, domain: DigitDomain):
        self.domain = domain

    def __len__(self) -> int:
        return len(self.domain)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": uint8_to_model_range(self.domain.images[index]), "label": self.domain.labels[index]}

    def describe(self) -> str:
        return self.domain.describe()


class DomainPairs(torch.utils.data.Dataset):
    """Labelled source images beside unlabelled target images, for adaptation.

    Item i pairs source i mod Ns with target i mod Nt, so one epoch of shuffled indices covers the
    larger domain once and the smaller one at least once. Target labels are not kept: nothing
    downstream can use them by accident.
    """

    def __init__(self, source: DigitDomain, target: DigitDomain):
        self.source = LabelledDigits(source)
        self.target_images = target.images
        self.target = target

    def __len__(self) -> int:
        return max(len(self.source), len(self.target_images))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.source[index % len(self.source)]
        target = uint8_to_model_range(self.target_images[index % len(self.target_images)])
        return {"image": item["image"], "label": item["label"], "target_image": target}

    def describe(self) -> str:
        return f"source {self.source.describe()}; target (labels unused) {self.target.describe()}"


def labelled_digits(folder: str, split: str, size: int) -> DigitDomain:
    """One split of a single labelled digit domain: `folder` in the HW2 layout (or usps.h5 / SVHN .mat),
    or, when empty, the embedded pen digits (zoo.data.embedded; the first 80% train, the rest val)."""
    if not folder:
        if split not in SPLITS:
            raise DataError(f"split must be one of {', '.join(SPLITS)}, got '{split}'")
        images, labels = pen_digits(size)
        cut = int(0.8 * len(labels))
        part = slice(0, cut) if split == "train" else slice(cut, None)
        names = tuple(f"embedded_{i:04d}.png" for i in range(len(labels)))[part]
        return DigitDomain("embedded", split, images[part], labels[part], names, "scikit-learn digits (embedded)")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataError(
            f"data.root '{path}' is not a folder; point it at one digit domain in the HW2 layout "
            "(data/ + train.csv + val.csv), e.g. hw2_data/digits/mnistm"
        )
    return load_domain(str(path.resolve().parent), path.resolve().name, split, size)


@lru_cache(maxsize=4)
def embedded_domains(image_size: int) -> dict[tuple[str, str], DigitDomain]:
    """The embedded adaptation scenario, offline: {(which, split): domain} for which in source, target
    and split in train, val. Source: coloured digits ("coloured"); target: plain grey ones ("grey").

    Both come from scikit-learn's 1797 real digits, split so no digit image is in both domains:
    the first 1200 coloured MNIST-M-style, the rest grey; 20% of each is its validation split.
    """
    coloured, labels = mnistm_style_digits(image_size)
    grey = grey_to_rgb_uint8(upscaled_digits(image_size)[0])
    domains = {}
    for which, name, images, rows in (
        ("source", "coloured", coloured, range(0, 1200)),
        ("target", "grey", grey, range(1200, 1797)),
    ):
        cut = rows.start + int(0.8 * len(rows))
        for split, part in (("train", range(rows.start, cut)), ("val", range(cut, rows.stop))):
            index = torch.tensor(part)
            names = tuple(f"{name}_{i:04d}.png" for i in part)
            domains[which, split] = DigitDomain(
                name, split, images[index], labels[index], names, "scikit-learn digits (embedded)"
            )
    return domains
