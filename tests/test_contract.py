"""zoo.testing.check_plugin: every built-in keeps the plugin contract, and the check catches a plugin that does not."""

import pytest
from safetensors import safe_open

from conftest import PROJECT_ROOT, TOY_PLUGIN, write_distribution
from zoo.registry import Registry
from zoo.testing import check_plugin
from zoo.training import checkpoints

SMALL = {
    "dcgan": ["data.image_size=16", "model.base_channels=8", "train.batch_size=8"],
    "sagan": ["data.image_size=16", "model.base_channels=8", "train.batch_size=8"],
    "wgan_gp": ["data.image_size=16", "model.base_channels=8", "train.batch_size=8"],
    # 50 timesteps: the check samples once with every scheduler, and ddpm / reference take all of them.
    "ddpm_unet": ["train.batch_size=8", "model.channels=[16,32,32]", "model.time_dim=32", "diffusion.timesteps=50"],
    "cgan": ["train.batch_size=8", "model.width=8"],
    "digit_classifier": ["train.batch_size=16", "model.width=8"],
    "dann": ["train.batch_size=16"],
}


def test_every_builtin_is_covered():
    builtins = {s.name for s in Registry.discover().specs() if s.builtin}
    assert builtins == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_builtin_keeps_the_contract(name, tmp_path):
    checked = check_plugin(name, tmp_path, SMALL[name])
    # What the check left on disk: a checkpoint at its last step, and a weights file that names the plugin.
    assert checkpoints.step_of(checkpoints.latest(tmp_path / f"check-{name}")) == 2
    with safe_open(checked["weights"], "pt") as weights:
        assert weights.metadata()["plugin"] == name and weights.metadata()["image_size"] == str(
            checked["metadata"]["image_size"]
        )


def test_check_catches_a_training_step_that_reaches_past_the_train_step_contract(tmp_path, monkeypatch):
    """step.accelerator is the engine's own business: a plugin that uses it would crash the plain loop
    of `zoo benchmark`, so the check fails it first, naming what a TrainStep offers."""
    write_distribution(
        tmp_path,
        "zoo-reaching",
        {"reaching": "reaching_gan:ReachingGAN"},
        {
            "reaching_gan.py": '''
        from zoo.plugins.dcgan.plugin import DCGAN

        class ReachingGAN(DCGAN):
            """A GAN that asks its step for the accelerator."""

            def training_step(self, batch, step):
                step.accelerator.print("hello")
                return super().training_step(batch, step)
    ''',
            "default.yaml": TOY_PLUGIN["toy_gan/default.yaml"],
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Exception, match="accelerator"):
        check_plugin("reaching", tmp_path, SMALL["dcgan"])
    # The engine does not offer it either, so the same plugin fails under `zoo run` too.
    from zoo.training.step import AcceleratedStep

    assert not hasattr(AcceleratedStep(0, None, {}), "accelerator")


def test_check_catches_a_generator_that_ignores_its_seed(tmp_path, monkeypatch):
    write_distribution(
        tmp_path,
        "zoo-noisy",
        {"noisy": "noisy_gan:NoisyGAN"},
        {
            "noisy_gan.py": '''
        import torch
        from zoo.plugins.dcgan.plugin import DCGAN

        class NoisyGAN(DCGAN):
            """A GAN whose samples do not depend on the seed alone."""

            def generate(self, n, seed, batch_size=256, labels=None, progress=False):
                return super().generate(n, seed, batch_size).mul(0.5).add(torch.rand(n, 1, 1, 1) * 0.1)
    ''',
            "default.yaml": TOY_PLUGIN["toy_gan/default.yaml"],
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match="seed"):
        check_plugin("noisy", tmp_path, SMALL["dcgan"])


def test_check_catches_a_conditional_generator_whose_image_depends_on_the_other_labels(tmp_path, monkeypatch):
    write_distribution(
        tmp_path,
        "zoo-mixed",
        {"mixed": "mixed_gan:MixedGAN"},
        {
            "mixed_gan.py": '''
        import torch
        from zoo.plugins.cgan.plugin import ConditionalGAN
        from zoo.noise import block_normal, class_labels

        class MixedGAN(ConditionalGAN):
            """A conditional GAN that draws its noise by position, not by (label, rank)."""

            @torch.no_grad()
            def generate(self, n, seed, batch_size=256, labels=None, progress=False):
                labels = class_labels(n, self.num_classes, labels)
                z = block_normal(n, self.latent_shape, seed)
                return self.modules["generator"].eval()(z, labels)
    ''',
            "default.yaml": (PROJECT_ROOT / "plugins" / "cgan" / "default.yaml").read_text(),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match=r"depend on \(seed, label, rank"):
        check_plugin("mixed", tmp_path, SMALL["cgan"])
