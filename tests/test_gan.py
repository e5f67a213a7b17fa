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


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_keeps_shapes_changes_images_and_lets_gradients_through(policy):
    from zoo.diffaugment import diff_augment, parse_policy

    torch.manual_seed(0)
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = diff_augment(x, parse_policy(policy))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.allclose(out, x)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_diffaugment_transforms_do_what_they_say():
    from zoo.diffaugment import cutout, translation

    torch.manual_seed(0)
    x = torch.ones(64, 3, 16, 16)
    # Cutout zeroes one 8x8 square per image, clipped at the border: at most a quarter of the pixels.
    zeroed = (cutout(x) == 0).float().mean(dim=(1, 2, 3))
    assert (zeroed > 0).all() and (zeroed <= 0.25 + 1e-6).all() and (zeroed == 0.25).any()
    # Translation moves content by at most 2 pixels (1/8 of 16) and fills with zeros.
    marked = torch.zeros(64, 1, 16, 16)
    marked[:, :, 8, 8] = 1.0
    moved = translation(marked)
    rows, cols = moved[:, 0].flatten(1).argmax(1) // 16, moved[:, 0].flatten(1).argmax(1) % 16
    assert ((rows - 8).abs() <= 2).all() and ((cols - 8).abs() <= 2).all() and len(set(zip(rows.tolist(), cols.tolist()))) > 5


def test_diffaugment_is_applied_to_what_d_sees_and_bad_names_are_config_errors(monkeypatch):
    from zoo.errors import ConfigError

    spec = Registry.discover().get("dcgan")
    with pytest.raises(ConfigError, match="gan.diffaugment: unknown DiffAugment transform.*blur.*choose from color"):
        spec.build(spec.config(overrides=["data.image_size=16", "model.base_channels=4", "gan.diffaugment=color,blur"]))
    plugin = spec.build(spec.config(overrides=["data.image_size=16", "model.base_channels=4", "gan.diffaugment=cutout"]))
    seen = []
    discriminator = plugin.modules["discriminator"]
    discriminator.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    plugin.training_step({"image": torch.ones(4, 3, 16, 16)}, CountingStep(0))
    assert len(seen) == 3  # real, fake for D; fake for G
    assert (seen[0] == 0).any() and (seen[0] == 1).any()  # the real batch, cut out


def test_a_gan_offers_only_the_losses_its_discriminator_fits():
    """cgan's projection score is unbounded: bce (which wants a probability) is a config error naming
    the losses that work, not a crash inside binary_cross_entropy at the first step."""
    from zoo.errors import ConfigError

    spec = Registry.discover().get("cgan")
    with pytest.raises(ConfigError, match="gan.loss must be one of hinge, wasserstein, got 'bce'"):
        spec.build(spec.config(overrides=["gan.loss=bce"]))
    assert "bce" in Registry.discover().get("dcgan").build(
        Registry.discover().get("dcgan").config(overrides=["data.image_size=16", "model.base_channels=4"])).losses
