"""The shared GAN pieces: losses, the D/G alternation, freezing D during G's update."""

import math

import pytest
import torch

from zoo.gan import LOSSES, frozen
from zoo.registry import Registry


def test_bce_losses_match_their_formulas():
    d_loss, g_loss = LOSSES["bce"]
    real, fake = torch.tensor([0.9, 0.8]), torch.tensor([0.1, 0.3])
    expected_d = -(math.log(0.9) + math.log(0.8)) / 2 - (math.log(0.9) + math.log(0.7)) / 2
    assert d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-5)
    assert g_loss(fake).item() == pytest.approx(-(math.log(0.1) + math.log(0.3)) / 2, rel=1e-5)


def test_bce_is_computed_in_float32_under_autocast():
    d_loss, _ = LOSSES["bce"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = d_loss(torch.tensor([0.9], dtype=torch.bfloat16), torch.tensor([0.1], dtype=torch.bfloat16))
    assert loss.dtype == torch.float32


def test_hinge_and_wasserstein_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    hinge_d, hinge_g = LOSSES["hinge"]
    assert hinge_d(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert hinge_g(fake).item() == pytest.approx(1.0)
    w_d, w_g = LOSSES["wasserstein"]
    assert w_d(real, fake).item() == pytest.approx(-1.0 - 1.25)
    assert w_g(fake).item() == pytest.approx(1.0)


def test_frozen_module_passes_gradients_through_but_gets_none():
    layer = torch.nn.Linear(2, 1)
    x = torch.randn(3, 2, requires_grad=True)
    with frozen(layer):
        layer(x).sum().backward()
    assert layer.weight.grad is None and x.grad is not None
    assert layer.weight.requires_grad  # restored


class CountingStep:
    def __init__(self, index):
        self.index, self.updates = index, []

    def optimize(self, name, loss):
        self.updates.append(name)

    def unwrap(self, module):
        return module


@pytest.mark.parametrize("n_critic, expected_generator_steps", [(1, 10), (5, 2), (3, 3)])
def test_discriminator_steps_per_generator_step(n_critic, expected_generator_steps):
    spec = Registry.discover().get("dcgan")
    plugin = spec.build(spec.config(overrides=["data.image_size=16", "model.base_channels=4", f"gan.n_critic={n_critic}"]))
    batch = {"image": torch.zeros(2, 3, 16, 16)}
    updates = []
    for index in range(10):
        step = CountingStep(index)
        logs = plugin.training_step(batch, step)
        assert ("loss_g" in logs) == ("generator" in step.updates)
        updates += step.updates
    assert updates.count("discriminator") == 10
    assert updates.count("generator") == expected_generator_steps
