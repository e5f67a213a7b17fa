"""The digit classifier's networks: a small VGG-style CNN for 28x28 colour digits (three conv stages,
global average pooling), or a timm backbone by name with the same head."""

from __future__ import annotations

import torch
from torch import nn

from zoo.nn import timm_backbone


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DigitCNN(nn.Module):
    def __init__(self, width: int = 32, num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn_relu(3, w),
            conv_bn_relu(w, w),
            nn.MaxPool2d(2),
            conv_bn_relu(w, 2 * w),
            conv_bn_relu(2 * w, 2 * w),
            nn.MaxPool2d(2),
            conv_bn_relu(2 * w, 4 * w),
            conv_bn_relu(4 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * w, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BackboneClassifier(nn.Module):
    """A named timm backbone (zoo.nn.timm_backbone) with the same dropout + linear head as DigitCNN,
    and the same parts: `features` (one vector per image) and `head`."""

    def __init__(self, backbone: str, image_size: int, num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        self.features, width = timm_backbone(backbone, image_size)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
