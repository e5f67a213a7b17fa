"""The ddpm_unet plugin: the HW2 reports' conditional UNet, trained as a DDPM with label dropout.

The diffusion itself (schedule, loss, classifier-free guidance, schedulers) is zoo.diffusion's; this
file only builds the network and its optimizer and reads the data.
"""

from __future__ import annotations

import torch

from zoo.data.digits import LabelledDigits, labelled_digits
from zoo.diffusion import ClassConditionalDiffusion
from zoo.interfaces import BenchmarkSpec

from .model import UNetConditional


class DDPMUNet(ClassConditionalDiffusion):
    """Class-conditional DDPM (Ho et al. 2020) with classifier-free guidance; HW2 problem 2."""

    # Quick runs sample with DPM-Solver in 10 steps; `--study` compares samplers and step counts.
    benchmark = BenchmarkSpec(
        data="digits/mnistm",
        metrics=("digit_accuracy",),
        steps=20000,
        quick_steps=30,
        quick_overrides=("sample.scheduler=dpm", "sample.steps=10"),
    )
    study = "zoo.plugins.ddpm_unet.benchmark:run"

    def build_modules(self) -> dict[str, torch.nn.Module]:
        m = self.config.model
        unet = UNetConditional(
            image_size=self.config.data.image_size,
            image_channels=m.image_channels,
            channels=tuple(m.channels),
            attention=tuple(m.attention),
            time_dim=m.time_dim,
            num_classes=m.num_classes,
        )
        return {"unet": unet}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optim = self.config.optim
        return {
            "unet": torch.optim.AdamW(self.modules["unet"].parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
        }

    def configure_lr_schedulers(self, optimizers):
        # A linear warm-up: the EMA and the attention layers are unstable under a full step at once.
        warmup = max(1, self.config.optim.warmup_steps)
        return {"unet": torch.optim.lr_scheduler.LambdaLR(optimizers["unet"], lambda s: min(1.0, (s + 1) / warmup))}

    def train_dataset(self) -> torch.utils.data.Dataset:
        data = self.config.data
        return LabelledDigits(labelled_digits(data.root, "train", data.image_size))
