"""DANN's three networks as printed in the reference reports (fungtion/DANN), and gradient reversal.

For 28x28 inputs the feature extractor gives 48 x 4 x 4 = 768 features.
"""

from __future__ import annotations

import torch
from torch import nn


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by -lambda backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.neg() * ctx.lambda_, None


def reverse_gradient(x: torch.Tensor, lambda_: float) -> torch.Tensor:
    return GradientReversal.apply(x, lambda_)


class FeatureExtractor(nn.Sequential):
    def __init__(self, dropout: float = 0.5):
        super().__init__(
            nn.Conv2d(3, 32, kernel_size=5),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 48, kernel_size=5),
            nn.BatchNorm2d(48),
            nn.Dropout2d(dropout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )


class LabelClassifier(nn.Sequential):
    def __init__(self, features: int = 768, num_classes: int = 10):
        super().__init__(
            nn.Linear(features, 384),
            nn.BatchNorm1d(384),
            nn.ReLU(inplace=True),
            nn.Linear(384, 192),
            nn.BatchNorm1d(192),
            nn.ReLU(inplace=True),
            nn.Linear(192, num_classes),
        )


class DomainDiscriminator(nn.Sequential):
    def __init__(self, features: int = 768):
        super().__init__(
            nn.Linear(features, 384),
            nn.BatchNorm1d(384),
            nn.ReLU(inplace=True),
            nn.Linear(384, 2),
        )


def feature_size(image_size: int) -> int:
    """Features out of FeatureExtractor for a square input: two (5x5 conv, 2x2 pool) stages."""
    side = ((image_size - 4) // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"image_size {image_size} is too small for the DANN feature extractor (at least 16)")
    return 48 * side * side
