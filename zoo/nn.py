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
