"""The digit_classifier plugin: the zoo's own evaluator for generated digits (`zoo eval digits`).

Trained on real labelled digits (an HW2-layout folder such as hw2_data/digits/mnistm, or the embedded
digits), with light affine augmentation; its accuracy on the folder's val.csv is logged while it
trains and reported by `zoo eval digits` next to every score it gives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.data.augment import random_affine
from zoo.data.digits import DigitDomain, LabelledDigits, labelled_digits
from zoo.interfaces import BenchmarkSpec, Classifier, TrainStep
from zoo.metrics.accuracy import domain_accuracy

from .model import BackboneClassifier, DigitCNN


class DigitClassifier(Classifier):
    """A small CNN digit classifier: the evaluator that scores generated digits."""

    export_modules = ("net",)
    benchmark = BenchmarkSpec(data="digits/mnistm", metrics=("held_out",), steps=1500, quick_steps=60)

    def build_modules(self) -> dict[str, torch.nn.Module]:
        m = self.config.model
        if m.backbone == "cnn":
            return {"net": DigitCNN(m.width, m.num_classes, m.dropout)}
        return {"net": BackboneClassifier(m.backbone, self.config.data.image_size, m.num_classes, m.dropout)}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.config.optim
        return {"net": torch.optim.AdamW(self.modules["net"].parameters(), lr=o.lr, weight_decay=o.weight_decay)}

    def configure_lr_schedulers(self, optimizers):
        steps = self.config.train.steps
        return {
            "net": torch.optim.lr_scheduler.OneCycleLR(
                optimizers["net"], max_lr=self.config.optim.lr, total_steps=steps
            )
        }

    def domain(self, split: str) -> DigitDomain:
        data = self.config.data
        return labelled_digits(data.root, split, data.image_size)

    def train_dataset(self) -> torch.utils.data.Dataset:
        return LabelledDigits(self.domain("train"))

    def training_step(self, batch: dict, step: TrainStep) -> dict[str, torch.Tensor]:
        a = self.config.augment
        images = (
            random_affine(batch["image"], a.degrees, a.translate, a.scale_min, a.scale_max)
            if a.enabled
            else batch["image"]
        )
        logits = self.modules["net"](images)
        loss = F.cross_entropy(logits, batch["label"])
        step.optimize("net", loss)
        return {"loss": loss.detach(), "train_acc": (logits.argmax(1) == batch["label"]).float().mean().detach()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.modules["net"].eval()(images.to(self.device)).argmax(1).cpu()

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.modules["net"].eval().features(images.to(self.device)).float().cpu()

    def evaluate(self) -> dict[str, float]:
        """Accuracy on the real held-out split (val.csv)."""

        return {"val_acc": domain_accuracy(self, self.domain("val"))}
