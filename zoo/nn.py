"""Network building blocks that more than one plugin uses."""

from __future__ import annotations

import math

from zoo.errors import ConfigError


def stride2_stages(image_size: int) -> int:
    """Number of stride-2 (up or down) convolutions between 4x4 and image_size x image_size: the
    DCGAN-style ladder that dcgan, wgan_gp and sagan share."""
    stages = math.log2(image_size) - 2 if image_size > 0 else -1
    if stages < 2 or stages != int(stages):
        raise ConfigError("this network doubles its size from 4x4 in stride-2 stages, so data.image_size must be a "
                          f"power of two, at least 16 (e.g. 32 or 64); got {image_size}")
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
        raise ConfigError(f"model.backbone '{name}' is not a timm model; {hint}(python -c \"import timm; "
                          "print(timm.list_models('resnet*'))\" lists them)") from None
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
        raise ConfigError(f"model.backbone '{name}' does not take {image_size}x{image_size} images "
                          f"({str(exc).splitlines()[0]}); pick a convolutional model such as resnet18") from None
    net.train()
    if out.dim() != 2 or out.shape[1] != net.num_features:
        raise ConfigError(f"model.backbone '{name}' gives features of shape {tuple(out.shape[1:])}, not one vector per image")
    return net, net.num_features
