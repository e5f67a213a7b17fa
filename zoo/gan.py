"""What every GAN plugin shares: named losses, the discriminator/generator alternation, sampling.

A GAN plugin subclasses `GAN` and supplies `build_modules` ({"generator", "discriminator"}) and,
optionally, `discriminator_penalty` (extra D loss terms, logged by name); the loss (`gan.loss`), the
number of discriminator steps per generator step (`gan.n_critic`), the DiffAugment policy applied to
everything D sees (`gan.diffaugment`, e.g. "color,translation,cutout"; empty for none) and the two
Adam optimizers (`optim.lr_g`, `optim.lr_d`, `optim.betas`) come from its config. Losses take
discriminator outputs and return scalars. Sampling uses the EMA of the generator when the run kept
one (`train.ema_decay`).

A config with `model.num_classes` > 0 makes the GAN class-conditional: the networks are called as
G(z, y) and D(x, y), training reads labelled batches ({"image", "label"}) and G is given the real
batch's labels, so it learns the data's class balance.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from zoo.config import Config
from zoo.data import image_dataset
from zoo.data.digits import LabelledDigits, labelled_digits
from zoo.diffaugment import diff_augment, parse_policy
from zoo.errors import ConfigError
from zoo.interfaces import BenchmarkSpec, Generator, TrainStep
from zoo.noise import block_normal, class_labels, per_image_generators, per_image_normal


def _bce(probabilities: torch.Tensor, target: float) -> torch.Tensor:
    # Binary cross-entropy on probabilities is unsafe in half precision: compute it in float32.
    with torch.autocast(device_type=probabilities.device.type, enabled=False):
        p = probabilities.float()
        # F.binary_cross_entropy raises on a NaN input; a diverged D should give a NaN loss instead, which
        # the engine reports and stops on. (No sync: the check stays on the device.)
        nan = torch.isnan(p)
        loss = F.binary_cross_entropy(p.masked_fill(nan, 0.5), torch.full_like(p, target))
        return torch.where(nan.any(), torch.full_like(loss, float("nan")), loss)


def bce_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The original GAN loss on a sigmoid discriminator: -log D(x) - log(1 - D(G(z)))."""
    return _bce(real, 1.0) + _bce(fake, 0.0)


def bce_generator(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    return _bce(fake, 1.0)


def hinge_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def wasserstein_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def wasserstein_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


LOSSES = {
    "bce": (bce_discriminator, bce_generator),
    "hinge": (hinge_discriminator, hinge_generator),
    "wasserstein": (wasserstein_discriminator, wasserstein_generator),
}


def faces_benchmark(steps: int) -> BenchmarkSpec:
    """`zoo benchmark` of a GAN: with --data-root, trained on the HW2 faces of face/train (at 64x64 with the
    plugin's faces.yaml; `--quick` keeps the default 32x32 config) and scored by face rate and by FID
    against the held-out face/val; without it, the embedded digits."""
    return BenchmarkSpec(data="face/train", config="faces.yaml", metrics=("face_rate", "fid"), reference="face/val",
                         steps=steps, quick_steps=60)


@contextmanager
def frozen(module: nn.Module):
    """No parameter gradients for `module` (gradients still flow through it to its input).

    The generator's update backpropagates through the discriminator; without this its gradients
    would also land in the discriminator's .grad and, under gradient accumulation, be summed into
    the discriminator's next update.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GAN(Generator):
    """A generator/discriminator pair trained by alternating updates."""

    ema_modules = ("generator",)
    export_modules = ("generator",)
    required_modules = ("generator", "discriminator")

    # The losses `gan.loss` may name: (discriminator loss, generator loss). A plugin may add its own.
    losses = LOSSES

    def __init__(self, config: Config):
        if config.gan.loss not in self.losses:
            raise ConfigError(f"gan.loss must be one of {', '.join(self.losses)}, got '{config.gan.loss}'")
        if config.gan.n_critic < 1:
            raise ConfigError(f"gan.n_critic must be at least 1, got {config.gan.n_critic}")
        self.discriminator_loss, self.generator_loss = self.losses[config.gan.loss]
        try:
            # .get: a third-party GAN's default.yaml may predate the key.
            self.augment_policy = parse_policy(config.gan.get("diffaugment", ""))
        except ValueError as exc:
            raise ConfigError(f"gan.diffaugment: {exc}") from None
        super().__init__(config)

    @property
    def num_classes(self) -> int:
        return self.config.model.get("num_classes", 0)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The shape of one image's noise z."""
        return (self.config.model.latent_dim, 1, 1)

    def latent(self, n: int, device=None) -> torch.Tensor:
        return torch.randn(n, *self.latent_shape, device=device)

    def train_dataset(self) -> torch.utils.data.Dataset:
        data = self.config.data
        if self.num_classes:  # labelled digits: an HW2 domain folder (data/ + train.csv), or the embedded ones
            return LabelledDigits(labelled_digits(data.root, "train", data.image_size))
        return image_dataset(data)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam per network, from optim.lr_g, optim.lr_d and optim.betas (override for others)."""
        optim = self.config.optim
        return {
            "generator": torch.optim.Adam(self.modules["generator"].parameters(), lr=optim.lr_g, betas=tuple(optim.betas)),
            "discriminator": torch.optim.Adam(self.modules["discriminator"].parameters(), lr=optim.lr_d, betas=tuple(optim.betas)),
        }

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees of a batch: DiffAugment with the configured policy (the images themselves if none)."""
        return diff_augment(images, self.augment_policy) if self.augment_policy else images

    def discriminator_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor] | torch.Tensor | float:
        """Extra discriminator loss (a gradient penalty, say); none by default.

        `real` and `fake` are the batches D has just judged: after DiffAugment (`augment`) when
        gan.diffaugment is set, `fake` detached from G. Return a dict of named terms, each logged
        under its name beside loss_d (which includes their sum), or one tensor, folded into loss_d.
        To differentiate D at its input (R1, R2, WGAN-GP), call self.modules["discriminator"] again on
        an input that requires grad.
        """
        return {}

    def training_step(self, batch: dict, step: TrainStep) -> dict[str, torch.Tensor]:
        G, D = self.modules["generator"], self.modules["discriminator"]
        real = batch["image"]
        update_generator = (step.index + 1) % self.config.gan.n_critic == 0
        # Conditional: G draws the real batch's classes, and D judges each image with its label.
        condition = (batch["label"],) if self.num_classes else ()

        # One generator forward serves both updates; it only needs a graph when G is updated.
        with torch.set_grad_enabled(update_generator):
            fake = G(self.latent(real.shape[0], device=real.device), *condition)

        real, seen_fake = self.augment(real), self.augment(fake)
        d_loss = self.discriminator_loss(D(real, *condition), D(seen_fake.detach(), *condition))
        penalty = self.discriminator_penalty(real, seen_fake.detach())
        if isinstance(penalty, dict):  # named terms, each logged
            d_loss, terms = d_loss + sum(penalty.values()), penalty
        else:
            d_loss, terms = d_loss + penalty, {}
        step.optimize("discriminator", d_loss)
        logs = {"loss_d": d_loss.detach(), **{name: term.detach() for name, term in terms.items()}}

        if update_generator:
            # D is frozen here. Its DDP wrapper would wait for gradients that never come, so the
            # generator's loss goes through the bare module.
            bare_D = step.unwrap(D)
            with frozen(bare_D):
                g_loss = self.generator_loss(bare_D(seen_fake, *condition))
                step.optimize("generator", g_loss)
            logs["loss_g"] = g_loss.detach()
        return logs

    @torch.no_grad()
    def generate(self, n: int, seed: int, batch_size: int = 256, labels: torch.Tensor | None = None,
                 progress: bool = False) -> torch.Tensor:
        G, device = self.modules["generator"].eval(), self.device
        # All noise is drawn up front on the CPU (zoo.noise): image i depends on (seed, i), or for a
        # conditional GAN on (seed, label, rank), never on n, the batch size or the device.
        if self.num_classes:
            labels = class_labels(n, self.num_classes, labels)
            z = per_image_normal(self.latent_shape, per_image_generators(labels.tolist(), seed))
        elif labels is not None:
            raise ConfigError(f"{type(self).__name__} is unconditional (no model.num_classes); it takes no labels")
        else:
            z = block_normal(n, self.latent_shape, seed)
        images = []
        for start in tqdm(range(0, n, batch_size), disable=not progress, unit="batch", desc="generating", dynamic_ncols=True):
            condition = (labels[start : start + batch_size].to(device),) if self.num_classes else ()
            images.append(G(z[start : start + batch_size].to(device), *condition).float().cpu())
        return torch.cat(images) if images else torch.empty(0, 3, self.config.data.image_size, self.config.data.image_size)
