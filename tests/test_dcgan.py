import pytest
import torch

from zoo.errors import ConfigError
from zoo.nn import DCGANDiscriminator as Discriminator
from zoo.nn import DCGANGenerator as Generator
from zoo.registry import Registry


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_hw2_reports():
    assert count(Generator(100, 64, 64)) == 3_576_704
    assert count(Discriminator(64, 64)) == 2_765_568


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_at_32_and_64(size):
    spec = Registry.discover().get("dcgan")
    plugin = spec.build(spec.config(overrides=[f"data.image_size={size}"]))
    G, D = plugin.modules["generator"], plugin.modules["discriminator"]
    images = G(plugin.latent(2))
    assert images.shape == (2, 3, size, size)
    assert images.abs().max() <= 1.0  # tanh output
    scores = D(images)
    assert scores.shape == (2,) and torch.isfinite(scores).all()  # logits: the bce loss applies the sigmoid


def test_init_follows_the_dcgan_paper():
    spec = Registry.discover().get("dcgan")
    torch.manual_seed(0)
    plugin = spec.build(spec.config(overrides=["data.image_size=64"]))
    conv = plugin.modules["generator"].main[3].weight
    assert abs(conv.mean().item()) < 1e-3 and conv.std().item() == pytest.approx(0.02, rel=0.05)
    assert plugin.modules["generator"].main[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("name", ["dcgan", "sagan", "wgan_gp"])
def test_size_that_is_not_a_power_of_two_is_a_config_error(name):
    spec = Registry.discover().get(name)
    with pytest.raises(ConfigError, match="power of two.*got 28") as error:
        spec.build(spec.config(overrides=["data.image_size=28"]))
    assert "dcgan" not in str(
        error.value
    )  # the shared ladder names no one plugin (it once told sagan users "dcgan needs")
