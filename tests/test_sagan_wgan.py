"""sagan and wgan_gp: spectral norm, self-attention, the gradient penalty, the critic/generator ratio."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from conftest import TINY, zoo
from zoo.plugins.sagan.model import Discriminator, Generator, SelfAttention
from zoo.plugins.wgan_gp.plugin import gradient_penalty
from zoo.registry import Registry
from zoo.testing import RecordingStep
from zoo.training import checkpoints


def largest_singular_value(weight: torch.Tensor, dim: int) -> float:
    matrix = weight.movedim(dim, 0).flatten(1)
    return torch.linalg.matrix_norm(matrix, ord=2).item()


def test_spectral_norm_keeps_the_largest_singular_value_near_one():
    torch.manual_seed(0)
    D, G = Discriminator(32, 16), Generator(16, 32, 16)
    with torch.no_grad():
        for _ in range(20):  # each training-mode forward runs one power iteration
            D(torch.randn(4, 3, 32, 32))
            G(torch.randn(4, 16, 1, 1))
    normalised = [m for m in [*D.modules(), *G.modules()] if hasattr(m, "parametrizations")]
    assert len(normalised) == 6  # at 32x32, three convs in each network (all but the output conv)
    for module in normalised:
        dim = 1 if isinstance(module, nn.ConvTranspose2d) else 0
        assert largest_singular_value(module.weight, dim) == pytest.approx(1.0, abs=0.05)
    conv = nn.Conv2d(16, 32, 4)
    nn.init.normal_(conv.weight, 0, 1)
    # Measured before spectral_norm: it works in place, so afterwards conv.weight is the normalised one.
    assert largest_singular_value(conv.weight.detach(), 0) > 5  # without it, far from 1
    spectral_norm(conv)
    with torch.no_grad():
        for _ in range(20):
            conv(torch.randn(1, 16, 8, 8))
    assert largest_singular_value(conv.weight.detach(), 0) == pytest.approx(1.0, abs=0.05)


def test_self_attention_keeps_the_shape_and_starts_as_the_identity():
    attention = SelfAttention(32)
    x = torch.randn(2, 32, 8, 8)
    assert attention.query_conv.out_channels == 4 and attention.value_conv.out_channels == 32
    assert torch.equal(attention(x), x)  # gamma = 0 at init
    with torch.no_grad():
        attention.gamma.fill_(0.5)
    out = attention(x)
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_sagan_places_attention_after_the_reports_stages():
    G, D = Generator(128, 64, 64), Discriminator(64, 64)
    assert [m.value_conv.in_channels for m in G.modules() if isinstance(m, SelfAttention)] == [128, 64]
    assert [m.value_conv.in_channels for m in D.modules() if isinstance(m, SelfAttention)] == [256, 512]
    assert G(torch.randn(2, 128, 1, 1)).shape == (2, 3, 64, 64)
    assert D(torch.randn(2, 3, 64, 64)).shape == (2,)


def attention_sizes(network, image):
    """The feature-map sizes at which `network` (fed `image`, or z) runs self-attention."""
    sizes = []
    for block in network.modules():
        if isinstance(block, SelfAttention):
            block.register_forward_hook(lambda module, inputs, output: sizes.append(inputs[0].shape[-1]))
    network(image)
    return sizes


def test_attention_max_size_drops_the_larger_attention_blocks():
    z, x = torch.randn(2, 128, 1, 1), torch.randn(2, 3, 64, 64)
    assert attention_sizes(Generator(128, 64, 8), z) == [16, 32] and attention_sizes(Discriminator(64, 8), x) == [8, 4]
    assert attention_sizes(Generator(128, 64, 8, attention_max_size=16), z) == [16]
    assert attention_sizes(Discriminator(64, 8, attention_max_size=16), x) == [8, 4]  # D's are small already
    assert attention_sizes(Discriminator(64, 8, attention_max_size=4), x) == [4]
    spec = Registry.discover().get("sagan")
    plugin = spec.build(
        spec.config(overrides=["data.image_size=64", "model.base_channels=8", "model.attention_max_size=16"])
    )
    assert attention_sizes(plugin.modules["generator"], torch.randn(2, 128, 1, 1)) == [16]


def test_gradient_penalty_equals_a_hand_computation():
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    # A linear critic has the same gradient w everywhere: penalty (||w|| - 1)^2.
    w = torch.randn(1, 1, 2, 2)
    linear = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    assert gradient_penalty(linear, real, fake).item() == pytest.approx((w.norm() - 1).pow(2).item(), rel=1e-5)
    # D(x) = sum(x^2) has gradient 2 x_hat at the interpolate, which depends on the random mix.
    torch.manual_seed(3)
    mix = torch.rand(4, 1, 1, 1)
    x_hat = mix * real + (1 - mix) * fake
    expected = (2 * x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean()
    torch.manual_seed(3)
    assert gradient_penalty(lambda x: x.pow(2).flatten(1).sum(1), real, fake).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_gradient_penalty_is_the_same_under_autocast():
    critic = (
        Registry.discover()
        .get("wgan_gp")
        .build(Registry.discover().get("wgan_gp").config([], ["data.image_size=16", "model.base_channels=8"]))
        .modules["discriminator"]
    )
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    torch.manual_seed(0)
    plain = gradient_penalty(critic, real, fake)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = gradient_penalty(critic, real, fake)
    assert mixed.dtype == torch.float32 and mixed.item() == pytest.approx(plain.item(), rel=1e-6)


def test_a_lazy_gradient_penalty_is_computed_every_k_critic_steps_and_weighted_k(monkeypatch):
    spec = Registry.discover().get("wgan_gp")
    plugin = spec.build(spec.config([], ["data.image_size=16", "model.base_channels=4", "gan.penalty_every=4"]))
    monkeypatch.setattr("zoo.plugins.wgan_gp.plugin.gradient_penalty", lambda critic, real, fake: torch.tensor(0.5))
    batch = {"image": torch.zeros(2, 3, 16, 16)}
    logs = [plugin.training_step(batch, RecordingStep(backward=False, index=i)) for i in range(5)]
    # gp_weight 10 * 0.5, weighted by penalty_every 4, on critic steps 0 and 4 only
    assert [log["gp"].item() if "gp" in log else None for log in logs] == [20.0, None, None, None, 20.0]


def test_wgan_gp_takes_five_critic_steps_per_generator_step(tmp_path):
    run = tmp_path / "run"
    result = zoo(
        "run", "wgan_gp", *TINY, "--set", "train.steps=10", "--out", run, "--set", "train.mixed_precision=bf16"
    )
    assert result.exit_code == 0, result.output
    optim = torch.load(checkpoints.latest(run) / "optimizers.pt", weights_only=True)["optimizers"]
    adam_steps = {
        name: int(next(iter(optim[name]["state"].values()))["step"]) for name in ("generator", "discriminator")
    }
    assert adam_steps == {"generator": 2, "discriminator": 10}


@pytest.mark.parametrize("name", ["sagan", "wgan_gp"])
def test_run_export_sample_like_dcgan(name, tmp_path):
    run, weights = tmp_path / "run", tmp_path / "w.safetensors"
    result = zoo("run", name, *TINY, "--set", "train.steps=5", "--out", run)
    assert result.exit_code == 0, result.output
    assert zoo("export", run, "--out", weights).exit_code == 0
    outputs = []
    for folder in ("a", "b"):
        result = zoo("sample", name, "--weights", weights, "-n", 3, "--seed", 1, "--out", tmp_path / folder)
        assert result.exit_code == 0, result.output
        outputs.append([p.read_bytes() for p in sorted((tmp_path / folder).iterdir())])
    assert len(outputs[0]) == 3 and outputs[0] == outputs[1]
