"""The shared GAN pieces: losses, the D/G alternation, freezing D during G's update."""

import math

import pytest
import torch

from zoo.gan import LOSSES, frozen, squared_input_gradient
from zoo.registry import Registry
from zoo.testing import RecordingStep


def test_bce_losses_match_their_formulas_on_logits():
    d_loss, g_loss, _ = LOSSES["bce"]
    real, fake = torch.logit(torch.tensor([0.9, 0.8])), torch.logit(torch.tensor([0.1, 0.3]))
    expected_d = -(math.log(0.9) + math.log(0.8)) / 2 - (math.log(0.9) + math.log(0.7)) / 2
    assert d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-5)
    assert g_loss(fake).item() == pytest.approx(-(math.log(0.1) + math.log(0.3)) / 2, rel=1e-5)


def test_bce_is_computed_in_float32_under_autocast_and_a_nan_score_gives_a_nan_loss():
    d_loss, _, _ = LOSSES["bce"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = d_loss(torch.tensor([2.0], dtype=torch.bfloat16), torch.tensor([-2.0], dtype=torch.bfloat16))
    assert loss.dtype == torch.float32
    assert d_loss(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 0.0])).isnan()  # the engine stops on it


def test_hinge_and_wasserstein_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    hinge_d, hinge_g, _ = LOSSES["hinge"]
    assert hinge_d(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert hinge_g(fake).item() == pytest.approx(1.0)
    w_d, w_g, _ = LOSSES["wasserstein"]
    assert w_d(real, fake).item() == pytest.approx(-1.0 - 1.25)
    assert w_g(fake).item() == pytest.approx(1.0)


def test_rpgan_pairs_each_real_score_with_its_fake():
    loss = LOSSES["rpgan"]
    assert loss.relativistic
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 3.0])
    # -log sigmoid(real_i - fake_i), averaged; the generator's is the same with the pair reversed.
    expected_d = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(3.0))) / 2
    expected_g = (math.log1p(math.exp(1.0)) + math.log1p(math.exp(-3.0))) / 2
    assert loss.discriminator(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert loss.generator(fake, real).item() == pytest.approx(expected_g, rel=1e-6)
    # Pairing, not means: swapping which fake goes with which real changes the loss.
    assert loss.discriminator(real, fake.flip(0)).item() != pytest.approx(expected_d)


class Linear(torch.nn.Module):
    """D(x) = sum(w * x^2 / 2): its input gradient is w * x, so ||grad||^2 is known by hand."""

    def __init__(self, shape):
        super().__init__()
        self.w = torch.nn.Parameter(torch.rand(shape) + 0.5)

    def forward(self, x):
        return (self.w * x.square() / 2).flatten(1).sum(1)


def test_squared_input_gradient_is_the_gradient_norm_by_hand_and_reaches_d():
    torch.manual_seed(0)
    D, x = Linear((3, 4, 4)), torch.randn(5, 3, 4, 4)
    penalty = squared_input_gradient(D, x)
    by_hand = (D.w * x).flatten(1).square().sum(1).mean()
    assert penalty.item() == pytest.approx(by_hand.item(), rel=1e-6)
    penalty.backward()  # d/dw of mean ||w * x||^2 is mean 2 w x^2
    assert torch.allclose(D.w.grad, (2 * D.w * x.square()).mean(0), rtol=1e-5)
    assert x.grad is None  # the images stay untouched


def tiny_dcgan(*overrides):
    spec = Registry.discover().get("dcgan")
    return spec.build(spec.config(overrides=["data.image_size=16", "model.base_channels=4", *overrides]))


def test_r1_and_r2_are_added_to_d_loss_logged_and_lazy_every_k_steps(monkeypatch):
    plugin = tiny_dcgan("gan.r1=2.0", "gan.r2=0.5", "gan.penalty_every=3")
    seen = []
    monkeypatch.setattr(
        "zoo.gan.squared_input_gradient", lambda D, images, condition=(): seen.append(images) or torch.tensor(4.0)
    )
    batch = {"image": torch.ones(2, 3, 16, 16)}
    logs = plugin.training_step(batch, RecordingStep(backward=False, index=0))
    # gamma/2 * E||grad||^2, weighted by penalty_every: 0.5 * 2.0 * 3 * 4 and 0.5 * 0.5 * 3 * 4
    assert logs["r1"].item() == pytest.approx(12.0) and logs["r2"].item() == pytest.approx(3.0)
    assert torch.equal(seen[0], batch["image"]) and not torch.equal(seen[1], batch["image"])  # r1 real, r2 fake
    assert "r1" not in plugin.training_step(batch, RecordingStep(backward=False, index=1))  # lazy: steps 0, 3, 6, ...
    assert "r1" in plugin.training_step(batch, RecordingStep(backward=False, index=3))
    assert "r1" not in tiny_dcgan().training_step(
        batch, RecordingStep(backward=False, index=0)
    )  # gammas default to 0: off


def test_rpgan_with_r1_trains_d_and_g():
    torch.manual_seed(0)
    plugin = tiny_dcgan("gan.loss=rpgan", "gan.r1=1.0", "gan.r2=1.0")
    step = RecordingStep(0)
    logs = plugin.training_step({"image": torch.rand(4, 3, 16, 16) * 2 - 1}, step)
    assert step.updates == ["discriminator", "generator"]
    assert all(torch.isfinite(logs[k]) and logs[k] > 0 for k in ("loss_d", "loss_g", "r1", "r2"))
    for name in ("discriminator", "generator"):  # D's from its loss only: it is frozen for G's
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in plugin.modules[name].parameters())


def test_bad_penalty_settings_are_config_errors():
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="gan.r1 and gan.r2 must be >= 0 and gan.penalty_every >= 1"):
        tiny_dcgan("gan.r1=-1")
    with pytest.raises(ConfigError, match="penalty_every"):
        tiny_dcgan("gan.penalty_every=0")


def test_lr_decay_from_holds_both_rates_then_takes_them_linearly_to_zero():
    from zoo.errors import ConfigError

    assert tiny_dcgan().configure_lr_schedulers(tiny_dcgan().configure_optimizers()) == {}  # constant by default
    plugin = tiny_dcgan("train.steps=10", "optim.lr_decay_from=0.6", "optim.lr_g=0.001", "optim.lr_d=0.002")
    optimizers = plugin.configure_optimizers()
    schedulers = plugin.configure_lr_schedulers(optimizers)
    rates = []
    for _ in range(10):  # the rate each of the run's 10 steps trains at, as the engine steps them
        rates.append({name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()})
        for name, scheduler in schedulers.items():
            optimizers[name].step()
            scheduler.step()
    factors = [1.0] * 7 + [0.75, 0.5, 0.25]  # full up to step 6 (0.6 of 10), then a line that reaches 0 at step 10
    assert [r["generator"] for r in rates] == pytest.approx([0.001 * f for f in factors])
    assert [r["discriminator"] for r in rates] == pytest.approx([0.002 * f for f in factors])
    with pytest.raises(ConfigError, match="optim.lr_decay_from .* got 1.5"):
        tiny_dcgan("optim.lr_decay_from=1.5")


def test_frozen_module_passes_gradients_through_but_gets_none():
    layer = torch.nn.Linear(2, 1)
    x = torch.randn(3, 2, requires_grad=True)
    with frozen(layer):
        layer(x).sum().backward()
    assert layer.weight.grad is None and x.grad is not None
    assert layer.weight.requires_grad  # restored


@pytest.mark.parametrize("n_critic, expected_generator_steps", [(1, 10), (5, 2), (3, 3)])
def test_discriminator_steps_per_generator_step(n_critic, expected_generator_steps):
    spec = Registry.discover().get("dcgan")
    plugin = spec.build(
        spec.config(overrides=["data.image_size=16", "model.base_channels=4", f"gan.n_critic={n_critic}"])
    )
    batch = {"image": torch.zeros(2, 3, 16, 16)}
    updates = []
    for index in range(10):
        step = RecordingStep(backward=False, index=index)
        logs = plugin.training_step(batch, step)
        assert ("loss_g" in logs) == ("generator" in step.updates)
        updates += step.updates
    assert updates.count("discriminator") == 10
    assert updates.count("generator") == expected_generator_steps


def test_diffaugment_is_applied_to_what_d_sees_and_bad_names_are_config_errors(monkeypatch):
    from zoo.errors import ConfigError

    spec = Registry.discover().get("dcgan")
    with pytest.raises(ConfigError, match="gan.diffaugment: unknown DiffAugment transform.*blur.*choose from color"):
        spec.build(spec.config(overrides=["data.image_size=16", "model.base_channels=4", "gan.diffaugment=color,blur"]))
    plugin = spec.build(
        spec.config(overrides=["data.image_size=16", "model.base_channels=4", "gan.diffaugment=cutout"])
    )
    seen = []
    discriminator = plugin.modules["discriminator"]
    discriminator.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    plugin.training_step({"image": torch.ones(4, 3, 16, 16)}, RecordingStep(backward=False, index=0))
    assert len(seen) == 3  # real, fake for D; fake for G
    assert (seen[0] == 0).any() and (seen[0] == 1).any()  # the real batch, cut out


def test_a_plugin_may_restrict_or_extend_its_losses():
    """`losses` is the plugin's menu: a name outside it is a config error that lists the menu."""
    from zoo.errors import ConfigError
    from zoo.plugins.dcgan.plugin import DCGAN

    class BCEOnly(DCGAN):
        losses = {"bce": LOSSES["bce"]}

    spec = Registry.discover().get("dcgan")
    with pytest.raises(ConfigError, match="gan.loss must be one of bce, got 'hinge'"):
        BCEOnly(spec.config(overrides=["data.image_size=16", "model.base_channels=4"]))
    assert set(tiny_dcgan().losses) == {"bce", "hinge", "wasserstein", "rpgan"}
