"""The wgan_gp plugin: the DCGAN generator against a critic, Wasserstein loss + gradient penalty.

As in the reference report: the generator is DCGAN's; the critic is DCGAN's discriminator without
BatchNorm and Sigmoid (both from zoo.nn). The critic takes `gan.n_critic` (5) steps per generator step; its loss adds
lambda * (||grad_x D(x)|| - 1)^2 at random points between real and fake images (Gulrajani et al. 2017),
on every `gan.penalty_every`-th critic step (weighted that many times; 1, every step, as in the paper).
"""

from __future__ import annotations

import torch

from zoo.gan import GAN, faces_benchmark, input_gradient
from zoo.nn import DCGANDiscriminator, DCGANGenerator, dcgan_init


def gradient_penalty(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """mean over the batch of (||grad D(x_hat)||_2 - 1)^2, x_hat uniformly between a real and a fake image
    (the gradient in float32, zoo.gan.input_gradient)."""
    mix = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x_hat = mix * real.float() + (1 - mix) * fake.float()
    return (input_gradient(critic, x_hat).flatten(1).norm(2, dim=1) - 1).pow(2).mean()


class WGANGP(GAN):
    """WGAN-GP (Gulrajani et al. 2017): Wasserstein loss, gradient penalty, 5 critic steps per G step."""

    benchmark = faces_benchmark(steps=50000)  # critic steps: 10000 generator steps

    def build_modules(self) -> dict[str, torch.nn.Module]:
        model, size = self.config.model, self.config.data.image_size
        generator = DCGANGenerator(model.latent_dim, size, model.base_channels)
        critic = DCGANDiscriminator(size, model.base_channels, critic=True)
        generator.apply(dcgan_init)
        critic.apply(dcgan_init)
        return {"generator": generator, "discriminator": critic}

    def discriminator_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"gp": self.config.gan.gp_weight * gradient_penalty(self.modules["discriminator"], real, fake)}
