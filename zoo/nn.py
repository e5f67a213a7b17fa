"""Network building blocks that more than one plugin uses.

The DCGAN pair (Radford et al. 2015), as printed in both HW2 reference reports: dcgan trains it, and
wgan_gp pits its generator against the discriminator without BatchNorm as a critic. At 64x64, G is
ConvTranspose 100->512->256->128->64->3 with BatchNorm+ReLU and a Tanh output (3,576,704 parameters);
D is Conv 3->64->128->256->512->1 with LeakyReLU(0.2), BatchNorm from the second layer on and a
Sigmoid output (2,765,568 parameters). Here D returns the score before that Sigmoid: zoo.gan's `bce`
loss applies it, as binary cross-entropy on logits (the same function, stable in half precision), and
the other losses (hinge, rpgan) act on raw scores. Other power-of-two sizes add or drop one stride-2
stage per factor of two, keeping `base_channels` at the full-resolution end."""

from __future__ import annotations

import math

from torch import nn

from zoo.errors import ConfigError


def stride2_stages(image_size: int) -> int:
    """Number of stride-2 (up or down) convolutions between 4x4 and image_size x image_size: the
    DCGAN-style ladder that dcgan, wgan_gp and sagan share."""
    stages = math.log2(image_size) - 2 if image_size > 0 else -1
    if stages < 2 or stages != int(stages):
        raise ConfigError(
            "this network doubles its size from 4x4 in stride-2 stages, so data.image_size must be a "
            f"power of two, at least 16 (e.g. 32 or 64); got {image_size}"
        )
    return int(stages)


def timm_backbone(name: str, image_size: int, in_chans: int = 3):
    """(network, feature width) for a feature extractor timm knows by `name`, e.g. resnet18: random
    weights (no download), its classifier removed, so that it returns one pooled vector per image.

    Adapted to small images the way CIFAR ResNets are: a ResNet stem that would quarter a 28x28 input
    (a strided 7x7 conv, then a max-pool) becomes a 3x3 stride-1 conv with no pooling; a deep stem
    (three 3x3 convs) keeps its convs at stride 1. Any other model
    keeps its stem and must take image_size x image_size input; it is checked here, with a dummy
    batch, so that a model that cannot is a config error and not a crash at the first step."""
    import difflib

    import timm
    import torch
    from torch import nn

    try:
        net = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    except RuntimeError as exc:
        if "Unknown model" not in str(exc):
            raise
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"model.backbone '{name}' is not a timm model; {hint}(python -c \"import timm; "
            "print(timm.list_models('resnet*'))\" lists them)"
        ) from None
    stem, maxpool = getattr(net, "conv1", None), getattr(net, "maxpool", None)
    if isinstance(stem, nn.Module) and isinstance(maxpool, nn.Module):  # the ResNet family
        if isinstance(stem, nn.Conv2d):
            net.conv1 = nn.Conv2d(in_chans, stem.out_channels, 3, stride=1, padding=1, bias=False)
        else:  # a deep stem (resnet10t, resnet26d, ...): its strided conv keeps the resolution
            for conv in (m for m in stem.modules() if isinstance(m, nn.Conv2d) and m.stride != (1, 1)):
                conv.stride = (1, 1)
        net.maxpool = nn.Identity()
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(2, in_chans, image_size, image_size))
    except (RuntimeError, AssertionError, ValueError) as exc:  # timm says "does not fit" in all three ways
        raise ConfigError(
            f"model.backbone '{name}' does not take {image_size}x{image_size} images "
            f"({str(exc).splitlines()[0]}); pick a convolutional model such as resnet18"
        ) from None
    net.train()
    if out.dim() != 2 or out.shape[1] != net.num_features:
        raise ConfigError(
            f"model.backbone '{name}' gives features of shape {tuple(out.shape[1:])}, not one vector per image"
        )
    return net, net.num_features


class DCGANGenerator(nn.Module):
    """z (latent_dim x 1 x 1) to an image in [-1, 1]: ConvTranspose + BatchNorm + ReLU, Tanh at the end."""

    def __init__(self, latent_dim: int = 100, image_size: int = 64, base_channels: int = 64, channels: int = 3):
        super().__init__()
        stages = stride2_stages(image_size)
        width = base_channels * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)


class DCGANDiscriminator(nn.Module):
    """`critic=True` drops BatchNorm: the WGAN-GP critic, whose gradient penalty is per-sample
    (BatchNorm would mix samples)."""

    def __init__(self, image_size: int = 64, base_channels: int = 64, channels: int = 3, critic: bool = False):
        super().__init__()
        stages = stride2_stages(image_size)
        width = base_channels
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(stages - 1):
            norm = [] if critic else [nn.BatchNorm2d(width * 2)]
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), *norm, nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))  # the logit (the report's Sigmoid is in the loss)
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1)


def dcgan_init(module: nn.Module) -> None:
    """Weights from N(0, 0.02); BatchNorm scales from N(1, 0.02), shifts 0 (the DCGAN paper's init)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
