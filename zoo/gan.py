"""What every GAN plugin shares: named losses, the discriminator/generator alternation, sampling.

A GAN plugin subclasses `GAN` and supplies `build_modules` ({"generator", "discriminator"}) and,
optionally, `discriminator_penalty` (extra D loss terms, logged by name); the loss (`gan.loss`), the
number of discriminator steps per generator step (`gan.n_critic`), the DiffAugment policy applied to
everything D sees (`gan.diffaugment`, e.g. "color,translation,cutout"; empty for none), the R1 and
R2 gradient penalties (`gan.r1`, `gan.r2`: gammas, 0 for off), how often D's penalties are computed
(`gan.penalty_every`), the two Adam optimizers (`optim.lr_g`, `optim.lr_d`, `optim.betas`) and their
linear decay to zero over the last part of the run (`optim.lr_decay_from`) come from its config.
Losses take raw discriminator scores (logits: no sigmoid at D's end) and return scalars.
`gan.loss: rpgan` with gan.r1 and gan.r2 is R3GAN's objective (Huang et al. 2024).
Sampling uses the EMA of the generator when the run kept one (`train.ema_decay`).

A config with `model.num_classes` > 0 makes the GAN class-conditional: the networks are called as
G(z, y) and D(x, y), training reads labelled batches ({"image", "label"}) and G is given the real
batch's labels, so it learns the data's class balance.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import NamedTuple

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
from zoo.training import speed


def _float32(scores: torch.Tensor) -> torch.Tensor:
    # softplus of a half-precision score loses the small losses a trained D gives: compute in float32.
    return scores.float()


def bce_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The original GAN loss, on raw scores (logits): -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))."""
    return F.softplus(-_float32(real)).mean() + F.softplus(_float32(fake)).mean()


def bce_generator(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log sigmoid(D(G(z)))."""
    return F.softplus(-_float32(fake)).mean()


def hinge_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def wasserstein_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def wasserstein_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def rpgan_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Relativistic pairing (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024): each real image must
    score above the fake it is paired with, -log sigmoid(D(x_i) - D(G(z_i)))."""
    return F.softplus(_float32(fake) - _float32(real)).mean()


def rpgan_generator(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The pairing reversed: each fake must score above its real partner."""
    return F.softplus(_float32(real) - _float32(fake)).mean()


class GANLoss(NamedTuple):
    """A named GAN objective: discriminator(real_scores, fake_scores) and generator(fake_scores), or
    generator(fake_scores, real_scores) when `relativistic` (the kit then scores the real batch too)."""

    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator: Callable[..., torch.Tensor]
    relativistic: bool = False


LOSSES = {
    "bce": GANLoss(bce_discriminator, bce_generator),
    "hinge": GANLoss(hinge_discriminator, hinge_generator),
    "wasserstein": GANLoss(wasserstein_discriminator, wasserstein_generator),
    "rpgan": GANLoss(rpgan_discriminator, rpgan_generator, relativistic=True),
}


def input_gradient(discriminator: nn.Module, images: torch.Tensor, condition: tuple = ()) -> torch.Tensor:
    """grad_x D(x) at `images`, the ingredient of R1, R2 and WGAN-GP's penalty.

    In float32 with autocast off: a penalty differentiates this gradient, and half-precision
    gradients of gradients underflow. create_graph, so that the penalty's own gradient reaches D's
    weights; for the same reason D runs its plain forward here under train.compile.
    """
    with torch.autocast(device_type=images.device.type, enabled=False), speed.eager():
        images = images.detach().float().requires_grad_(True)
        (grad,) = torch.autograd.grad(discriminator(images, *condition).float().sum(), images, create_graph=True)
        return grad


def squared_input_gradient(discriminator: nn.Module, images: torch.Tensor, condition: tuple = ()) -> torch.Tensor:
    """E ||grad_x D(x)||^2 over `images`: R1 on real images, R2 on fakes (Mescheder et al. 2018)."""
    return input_gradient(discriminator, images, condition).flatten(1).square().sum(1).mean()


def faces_benchmark(steps: int) -> BenchmarkSpec:
    """`zoo benchmark` of a GAN: with --data-root, trained on the HW2 faces of face/train (at 64x64 with the
    plugin's faces.yaml; `--quick` keeps the default 32x32 config) and scored by face rate and by FID
    against the held-out face/val; without it, the embedded digits."""
    return BenchmarkSpec(
        data="face/train",
        config="faces.yaml",
        metrics=("face_rate", "fid"),
        reference="face/val",
        steps=steps,
        quick_steps=60,
    )


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
        gan = config.gan
        if gan.loss not in self.losses:
            raise ConfigError(f"gan.loss must be one of {', '.join(self.losses)}, got '{gan.loss}'")
        if gan.n_critic < 1:
            raise ConfigError(f"gan.n_critic must be at least 1, got {gan.n_critic}")
        self.loss = GANLoss(*self.losses[gan.loss])  # a plugin's own entry may be a plain (d, g) pair
        # .get: a third-party GAN's default.yaml may predate these keys.
        self.penalty_gammas = {name: float(gan.get(name, 0.0)) for name in ("r1", "r2")}
        self.penalty_every = gan.get("penalty_every", 1)
        if any(gamma < 0 for gamma in self.penalty_gammas.values()) or self.penalty_every < 1:
            raise ConfigError(
                f"gan.r1 and gan.r2 must be >= 0 and gan.penalty_every >= 1, got "
                f"{self.penalty_gammas['r1']}, {self.penalty_gammas['r2']} and {self.penalty_every}"
            )
        self.lr_decay_from = float(config.optim.get("lr_decay_from", 1.0))
        if not 0.0 <= self.lr_decay_from <= 1.0:
            raise ConfigError(
                f"optim.lr_decay_from is the share of train.steps after which the rates start to fall "
                f"(0 to 1; 1 keeps them constant), got {self.lr_decay_from}"
            )
        try:
            self.augment_policy = parse_policy(gan.get("diffaugment", ""))
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
            "generator": torch.optim.Adam(
                self.modules["generator"].parameters(), lr=optim.lr_g, betas=tuple(optim.betas)
            ),
            "discriminator": torch.optim.Adam(
                self.modules["discriminator"].parameters(), lr=optim.lr_d, betas=tuple(optim.betas)
            ),
        }

    def configure_lr_schedulers(self, optimizers):
        """With optim.lr_decay_from < 1, every rate stays constant for that share of train.steps and
        then falls linearly to 0 at the last step (SNGAN's schedule, Miyato et al. 2018, over part of
        the run); none by default."""
        if self.lr_decay_from >= 1.0:
            return {}
        steps = self.config.train.steps
        start = self.lr_decay_from * steps

        def factor(step: int) -> float:
            return max(0.0, min(1.0, (steps - step) / (steps - start)))

        return {name: torch.optim.lr_scheduler.LambdaLR(opt, factor) for name, opt in optimizers.items()}

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees of a batch: DiffAugment with the configured policy (the images themselves if none)."""
        return diff_augment(images, self.augment_policy) if self.augment_policy else images

    def discriminator_penalty(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> dict[str, torch.Tensor] | torch.Tensor | float:
        """Extra discriminator loss of the plugin's own (a gradient penalty, say); none by default.

        `real` and `fake` are the batches D has just judged: after DiffAugment (`augment`) when
        gan.diffaugment is set, `fake` detached from G. Return a dict of named terms, each logged
        under its name beside loss_d (which includes their sum), or one tensor, folded into loss_d.
        Like R1 and R2 it is lazy under gan.penalty_every k: called on every k-th D step, weighted k.
        To differentiate D at its input, use `squared_input_gradient` or call
        self.modules["discriminator"] again on an input that requires grad. R1 and R2 need no
        override: gan.r1 and gan.r2 add them.
        """
        return {}

    def discriminator_penalties(
        self, real: torch.Tensor, fake: torch.Tensor, condition: tuple, index: int
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | float]:
        """(named terms, unnamed term) to add to D's loss at D step `index`: the plugin's own
        `discriminator_penalty` and gamma/2 * E ||grad_x D(x)||^2 on the real images (r1) and the fakes
        (r2), for the gammas gan.r1 and gan.r2 that are not 0. With gan.penalty_every k > 1 they are
        computed on every k-th D step only, weighted k times (the lazy regularisation of StyleGAN2)."""
        if index % self.penalty_every:
            return {}, 0
        k, own = self.penalty_every, self.discriminator_penalty(real, fake)
        named, unnamed = (own, 0) if isinstance(own, dict) else ({}, own)
        D, images = self.modules["discriminator"], {"r1": real, "r2": fake}
        gradient_norms = {
            name: 0.5 * gamma * squared_input_gradient(D, images[name], condition)
            for name, gamma in self.penalty_gammas.items()
            if gamma
        }
        return {name: k * term for name, term in {**named, **gradient_norms}.items()}, k * unnamed

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
        d_loss = self.loss.discriminator(D(real, *condition), D(seen_fake.detach(), *condition))
        terms, unnamed = self.discriminator_penalties(real, seen_fake.detach(), condition, step.index)
        d_loss = d_loss + sum(terms.values()) + unnamed  # the named terms are logged
        step.optimize("discriminator", d_loss)
        logs = {"loss_d": d_loss.detach(), **{name: term.detach() for name, term in terms.items()}}

        if update_generator:
            # D is frozen here. Its DDP wrapper would wait for gradients that never come, so the
            # generator's loss goes through the bare module.
            bare_D = step.unwrap(D)
            with frozen(bare_D):
                fake_scores = bare_D(seen_fake, *condition)
                if self.loss.relativistic:  # the real scores are constants of G's loss
                    with torch.no_grad():
                        real_scores = bare_D(real, *condition)
                    g_loss = self.loss.generator(fake_scores, real_scores)
                else:
                    g_loss = self.loss.generator(fake_scores)
                step.optimize("generator", g_loss)
            logs["loss_g"] = g_loss.detach()
        return logs

    @torch.no_grad()
    def generate(
        self, n: int, seed: int, batch_size: int = 256, labels: torch.Tensor | None = None, progress: bool = False
    ) -> torch.Tensor:
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
        for start in tqdm(
            range(0, n, batch_size), disable=not progress, unit="batch", desc="generating", dynamic_ncols=True
        ):
            condition = (labels[start : start + batch_size].to(device),) if self.num_classes else ()
            images.append(G(z[start : start + batch_size].to(device), *condition).float().cpu())
        return (
            torch.cat(images) if images else torch.empty(0, 3, self.config.data.image_size, self.config.data.image_size)
        )
