"""Accuracy of a Classifier's (or Adapter's) predictions, and its features for pictures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from zoo.data.digits import DigitDomain, read_labels_csv
from zoo.data.pixels import uint8_to_model_range
from zoo.errors import DataError
from zoo.files import atomic_write
from zoo.interfaces import Classifier


@torch.no_grad()
def predictions(classifier: Classifier, domain: DigitDomain, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([classifier.predict(uint8_to_model_range(chunk)) for chunk in domain.images.split(batch_size)])


@torch.no_grad()
def features(classifier: Classifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([classifier.embed(uint8_to_model_range(chunk)) for chunk in images.split(batch_size)])


def domain_accuracy(classifier: Classifier, domain: DigitDomain) -> float:
    return (predictions(classifier, domain) == domain.labels).float().mean().item()


def adapter_accuracy(adapter, split: str) -> dict:
    """An Adapter's accuracy on its target domain's labelled `split` (the HW2 DANN table's figure)."""
    domain = adapter.domain("target", split)
    correct = int((predictions(adapter, domain) == domain.labels).sum())
    return {
        "accuracy": correct / len(domain),
        "correct": correct,
        "count": len(domain),
        "target": domain.name,
        "split": split,
        "data": domain.source,
        "described": domain.describe(),
    }


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
        raise DataError(
            f"{predictions_csv} has no prediction for {len(missing)} of the {len(truth)} images in {labels_csv} "
            f"(e.g. {example})"
        )
    return sum(predicted[name] == label for name, label in truth.items()), len(truth)
