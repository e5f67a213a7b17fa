"""Accuracy of a Classifier's (or Adapter's) predictions, and its features for pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from zoo.data.digits import DigitDomain, read_labels_csv
from zoo.data.pixels import uint8_to_model_range
from zoo.errors import DataError
from zoo.interfaces import Classifier
from zoo.files import atomic_write


@torch.no_grad()
def predictions(classifier: Classifier, domain: DigitDomain, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([classifier.predict(uint8_to_model_range(chunk)) for chunk in domain.images.split(batch_size)])


@torch.no_grad()
def features(classifier: Classifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([classifier.embed(uint8_to_model_range(chunk)) for chunk in images.split(batch_size)])


def domain_accuracy(classifier: Classifier, domain: DigitDomain) -> float:
    return (predictions(classifier, domain) == domain.labels).float().mean().item()


def labels_from_names(names: Sequence[str], classes: int = 10) -> torch.Tensor:
    """The HW2 convention for generated digits: the first character of the file name is the label."""
    labels = []
    for name in names:
        if not name[:1].isdigit() or int(name[0]) >= classes:
            raise DataError(
                f"cannot tell the requested digit of '{name}': file names must start with it (0_001.png ... "
                "9_100.png), as `zoo sample ddpm_unet --per-class N --out DIR` writes them"
            )
        labels.append(int(name[0]))
    return torch.tensor(labels, dtype=torch.int64)


def generated_digit_accuracy(classifier: Classifier, folder: str | Path) -> dict:
    """Share of the images in `folder` that `classifier` reads as the digit their name starts with,
    overall and per digit."""
    from zoo.data.digits import load_image_folder

    images = load_image_folder(Path(folder), classifier.config.data.image_size)
    requested = labels_from_names(images.names)
    hits = predictions(classifier, images) == requested
    per_digit = {str(d): hits[requested == d].float().mean().item() for d in requested.unique().tolist()}
    return {"accuracy": hits.float().mean().item(), "correct": int(hits.sum()), "count": len(hits), "per_digit": per_digit}


def write_predictions(path: str | Path, names: Sequence[str], labels: torch.Tensor) -> Path:
    """`image_name,label` rows, the HW2 prediction CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{name},{int(label)}\n" for name, label in zip(names, labels.tolist(), strict=True))
    atomic_write(path, lambda tmp: Path(tmp).write_text("image_name,label\n" + rows))
    return path


def csv_accuracy(predictions_csv: str | Path, labels_csv: str | Path) -> tuple[int, int]:
    """(correct, total) of a prediction CSV against a labelled CSV, matched by image_name."""
    predicted, truth = (dict(read_labels_csv(Path(p))) for p in (predictions_csv, labels_csv))
    missing = truth.keys() - predicted.keys()
    if missing:
        example = sorted(missing)[0]
        raise DataError(f"{predictions_csv} has no prediction for {len(missing)} of the {len(truth)} images in {labels_csv} (e.g. {example})")
    return sum(predicted[name] == label for name, label in truth.items()), len(truth)
