"""Scoring generated digits with a digit classifier, the *evaluator*: the share it reads as the digit
that was asked for, and the Frechet distance to real held-out digits in its features ("digit FD",
FID with a digit classifier in place of Inception).

`zoo eval digits`, `zoo benchmark`, the ddpm_unet study and the scripts in benchmarks/ all score
through here, with an evaluator trained by zoo.bench.evaluator.trained_evaluator (cached per data
folder and length).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.data.digits import DigitDomain, labelled_digits, load_image_folder
from zoo.data.pixels import uint8_to_model_range
from zoo.errors import DataError, ZooError
from zoo.interfaces import Classifier
from zoo.metrics.accuracy import domain_accuracy
from zoo.metrics.fid import feature_frechet_distance


def labels_from_names(names, classes: int = 10) -> torch.Tensor:
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


class DigitScorer:
    """An evaluator, and optionally the real digits that generated ones are compared with.

    Images are float tensors in [-1, 1] of any size: they are resized to the evaluator's input
    (bilinear, antialiased) and read in chunks on the evaluator's device.
    """

    def __init__(self, evaluator: Classifier, real: DigitDomain | None = None, batch_size: int = 500):
        self.evaluator, self.real, self.batch_size = evaluator, real, batch_size
        self._real_features = None

    def inputs(self, images: torch.Tensor):
        """`images` in chunks, at the evaluator's input size, on its device."""
        size = self.evaluator.config.data.image_size
        for chunk in images.split(self.batch_size):
            if chunk.shape[-1] != size or chunk.shape[-2] != size:
                chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            yield chunk.to(self.evaluator.device)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.evaluator.predict(chunk) for chunk in self.inputs(images)])

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.evaluator.embed(chunk) for chunk in self.inputs(images)])

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> dict:
        """{accuracy, correct, count, per_digit}: how many images the evaluator reads as their label."""
        hits = self.predict(images) == labels
        per_digit = {str(d): hits[labels == d].float().mean().item() for d in labels.unique().tolist()}
        return {
            "accuracy": hits.float().mean().item(),
            "correct": int(hits.sum()),
            "count": len(hits),
            "per_digit": per_digit,
        }

    def frechet_distance(self, images: torch.Tensor) -> float:
        """Digit FD between `images` and the real digits given at construction (lower is better)."""

        if self.real is None:
            raise ValueError("DigitScorer needs the real digits (real=...) for a Frechet distance")
        if self._real_features is None:
            self._real_features = self.features(uint8_to_model_range(self.real.images)).double().numpy()
        return feature_frechet_distance(self._real_features, self.features(images).double().numpy())

    def folder_accuracy(self, folder: str | Path) -> dict:
        """accuracy() of the images in `folder`, each asked to be the digit its file name starts with."""
        images = load_image_folder(Path(folder), self.evaluator.config.data.image_size)
        return self.accuracy(uint8_to_model_range(images.images), labels_from_names(images.names))


def score_generated_folder(evaluator: Classifier, folder: str | Path, real: str | None = None) -> dict:
    """`zoo eval digits`: folder_accuracy of `folder`, beside the evaluator's own accuracy on real
    held-out digits (`real`, an HW2 domain folder; default: the one it was trained on), or a note
    saying why that could not be measured."""

    result = DigitScorer(evaluator).folder_accuracy(folder)
    try:
        held_out = labelled_digits(
            real if real is not None else evaluator.config.data.get("root", ""), "val", evaluator.config.data.image_size
        )
        real_accuracy, real_data = domain_accuracy(evaluator, held_out), held_out.describe()
    except ZooError as exc:
        real_accuracy, real_data = None, f"not measured: {exc}"
    return {
        **result,
        "folder": str(folder),
        "classifier_real_accuracy": real_accuracy,
        "classifier_real_data": real_data,
    }
