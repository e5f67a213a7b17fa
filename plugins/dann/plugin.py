"""The dann plugin: domain-adversarial training (Ganin & Lempitsky 2015) on digit domains.

One code path gives the three rows of the HW2 table, chosen by `mode`:
- source_only: the label classifier learns from labelled source images (the lower bound);
- dann:        the same, plus a domain discriminator behind a gradient-reversal layer that sees source
               and unlabelled target features, so the features stop telling the domains apart;
- target_only: the label classifier learns from labelled target images (the upper bound).
Every mode is evaluated on the target's validation split.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from zoo.config import Config
from zoo.data.augment import random_affine
from zoo.data.digits import DigitDomain, DomainPairs, LabelledDigits, embedded_domains, load_domain
from zoo.errors import ConfigError
from zoo.interfaces import Adapter, BenchmarkSpec, TrainStep
from zoo.metrics.accuracy import domain_accuracy
from zoo.nn import timm_backbone

from .model import DomainDiscriminator, FeatureExtractor, LabelClassifier, feature_size, reverse_gradient

MODES = ("source_only", "dann", "target_only")


def ganin_lambda(progress: float, gamma: float = 10.0) -> float:
    """Gradient-reversal weight: 0 at the start, rising to 1, so early noisy domain gradients do little harm."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def ganin_lr_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning-rate annealing of the DANN paper: lr / (1 + alpha * p) ** beta."""
    return 1.0 / (1.0 + alpha * progress) ** beta


class DANN(Adapter):
    """DANN (Ganin & Lempitsky 2015): gradient reversal against a domain discriminator; HW2 problem 3."""

    export_modules = ("features", "classifier")
    # MNIST-M -> USPS (data.target) under <data-root>/digits; `--study` gives the whole HW2 table.
    benchmark = BenchmarkSpec(data="digits", metrics=("held_out",), steps=1500, quick_steps=40)
    study = "zoo.plugins.dann.benchmark:run"

    def __init__(self, config: Config):
        if config.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got '{config.mode}'")
        super().__init__(config)

    def build_modules(self) -> dict[str, torch.nn.Module]:
        m, image_size = self.config.model, self.config.data.image_size
        if m.backbone == "reports":
            features, size = FeatureExtractor(m.dropout), feature_size(image_size)
        else:
            features, size = timm_backbone(m.backbone, image_size)
        modules = {"features": features, "classifier": LabelClassifier(size, 10)}
        if self.config.mode == "dann":  # only DANN has a use for it (and DDP rejects unused parameters)
            modules["domain"] = DomainDiscriminator(size)
        return modules

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optim = self.config.optim
        params = [p for m in self.modules.values() for p in m.parameters()]
        return {"all": torch.optim.Adam(params, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)}

    def configure_lr_schedulers(self, optimizers):
        steps = self.config.train.steps
        return {"all": torch.optim.lr_scheduler.LambdaLR(optimizers["all"], lambda s: ganin_lr_factor(s / steps))}

    # --- data ---------------------------------------------------------------------------------------
    def domain(self, which: str, split: str) -> DigitDomain:
        """`which` is "source" or "target": the domain named by data.source / data.target."""
        data = self.config.data
        if not data.root:
            return embedded_domains(data.image_size)[which, split]
        return load_domain(data.root, data[which], split, data.image_size)

    def train_dataset(self) -> torch.utils.data.Dataset:
        mode = self.config.mode
        if mode == "target_only":
            return LabelledDigits(self.domain("target", "train"))
        if mode == "source_only":
            return LabelledDigits(self.domain("source", "train"))
        return DomainPairs(self.domain("source", "train"), self.domain("target", "train"))

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """A random rotation, zoom and shift per labelled image. Digits differ in size and position
        between domains (USPS and SVHN digits fill the frame, MNIST-M digits sit in a 20x20 box), and
        this is what moved MNIST-M -> USPS accuracy most (59% without, 90% with zoom 1.0-1.5)."""
        a = self.config.augment
        if not a.enabled:
            return images
        return random_affine(images, a.degrees, a.translate, a.scale_min, a.scale_max)

    # --- training -----------------------------------------------------------------------------------
    def training_step(self, batch: dict, step: TrainStep) -> dict[str, torch.Tensor]:
        features, classifier = self.modules["features"], self.modules["classifier"]
        images, labels = self.augment(batch["image"]), batch["label"]
        logs = {}
        if self.config.mode == "dann":
            d = self.config.dann
            target = batch["target_image"]
            if d.augment_target:  # else the discriminator can tell the domains apart by the augmentation alone
                target = self.augment(target)
            # Source and target pass through the networks together, so BatchNorm normalises both
            # domains with the same statistics, as it will at test time.
            both = features(torch.cat([images, target]))
            progress = step.index / self.config.train.steps
            lambda_ = ganin_lambda(progress, d.gamma)
            domain_logits = self.modules["domain"](reverse_gradient(both, lambda_ * d.weight))
            domain_labels = torch.cat([torch.zeros(len(images)), torch.ones(len(target))]).long().to(images.device)
            domain_loss = F.cross_entropy(domain_logits, domain_labels)
            extra = domain_loss
            if d.entropy > 0:
                # Conditional entropy of the target predictions (Grandvalet & Bengio 2004, as in DIRT-T's
                # VADA): pushes the class boundaries out of dense target regions. No target label is used.
                all_logits = classifier(both)
                logits = all_logits[: len(images)]
                target_probs = all_logits[len(images) :].float().softmax(1)
                entropy = -(target_probs * target_probs.clamp_min(1e-8).log()).sum(1).mean()
                extra = extra + d.entropy * lambda_ * entropy
                logs["target_entropy"] = entropy.detach()
            else:
                logits = classifier(both[: len(images)])
            logs["loss_domain"] = domain_loss.detach()
            logs["lambda"] = lambda_
        else:
            logits = classifier(features(images))
            extra = 0.0
        class_loss = F.cross_entropy(logits, labels)
        step.optimize("all", class_loss + extra)
        logs["loss_class"] = class_loss.detach()
        logs["train_acc"] = (logits.argmax(1) == labels).float().mean().detach()
        return logs

    # --- inference ----------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.modules["features"].eval()(images.to(self.device)).float().cpu()

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        features, classifier = self.modules["features"].eval(), self.modules["classifier"].eval()
        return classifier(features(images.to(self.device))).argmax(1).cpu()

    def evaluate(self) -> dict[str, float]:
        """Accuracy on the target's validation split (what the HW2 table reports)."""

        return {"target_val_acc": domain_accuracy(self, self.domain("target", "val"))}
