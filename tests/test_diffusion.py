"""The diffusion family: the hand-written schedule against diffusers, guidance, the UNet, sampling."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import PROJECT_ROOT, TINY_DDPM, zoo
from zoo.diffusion import LinearSchedule, guided_eps, make_scheduler, reverse_process, trajectory_times
from zoo.noise import per_image_generators
from zoo.plugins.ddpm_unet.model import SelfAttention, UNetConditional
from zoo.registry import Registry
from zoo.testing import RecordingStep


def tiny_plugin(*overrides: str):
    spec = Registry.discover().get("ddpm_unet")
    pairs = [o for o in TINY_DDPM if o != "--set"] + list(overrides)
    return spec.build(spec.config(overrides=pairs))


# --- the schedule -----------------------------------------------------------------------------------
def test_hand_written_schedule_matches_diffusers():
    schedule = LinearSchedule(1000, 1e-4, 0.02)
    ddpm = make_scheduler("ddpm", schedule)
    assert torch.allclose(schedule.betas, ddpm.betas, rtol=1e-6)
    assert torch.allclose(schedule.alphas_cumprod, ddpm.alphas_cumprod, rtol=1e-5, atol=1e-7)
    # DDIM and DPM-Solver are built from the same config, so they share the training schedule.
    for kind in ("ddim", "dpm"):
        assert torch.allclose(make_scheduler(kind, schedule).alphas_cumprod, ddpm.alphas_cumprod)


@pytest.mark.parametrize("t", [999, 500, 37, 1, 0])
def test_one_reverse_step_matches_diffusers_for_the_same_noise(t):
    schedule = LinearSchedule()
    ddpm = make_scheduler("ddpm", schedule)
    ddpm.set_timesteps(1000)
    gen = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(4, 3, 8, 8, generator=gen), torch.randn(4, 3, 8, 8, generator=gen)
    theirs = ddpm.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
    noise = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(7)) if t > 0 else torch.zeros(4, 3, 8, 8)
    ours = schedule.reverse_step(eps, torch.full((4,), t), x_t, noise)
    # float32 (diffusers) against float64-derived coefficients: agreement to 1e-4, where a wrong
    # formula is off by 1e-2 or more.
    assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()


def test_whole_reverse_process_matches_diffusers_ddpm():
    schedule = LinearSchedule()
    labels = torch.tensor([0, 3, 3])

    def run(kind):
        # A fixed stand-in for the network, so that only the schedulers differ.
        def eps(x, t, y):
            return 0.3 * x + 0.01 * y[:, None, None, None]

        return reverse_process(
            eps, make_scheduler(kind, schedule), 1000, labels, per_image_generators([0, 3, 3], 5), (3, 4, 4)
        )

    assert torch.allclose(run("reference"), run("ddpm"), atol=1e-4)


def test_q_sample_has_the_forward_process_statistics():
    schedule = LinearSchedule()
    x0 = torch.full((20000, 1), 0.8)
    for t in (0, 250, 999):
        abar = schedule.alphas_cumprod[t]
        x_t = schedule.q_sample(
            x0, torch.full((20000,), t), torch.randn(20000, 1, generator=torch.Generator().manual_seed(t))
        )
        assert x_t.mean().item() == pytest.approx(abar.sqrt().item() * 0.8, abs=0.02)
        assert x_t.std().item() == pytest.approx((1 - abar).sqrt().item(), rel=0.03, abs=0.003)
    assert schedule.alphas_cumprod[-1] < 1e-4  # x_T is (almost) pure noise


def test_preconditioning_is_the_least_squares_skip():
    schedule = LinearSchedule()
    gen = torch.Generator().manual_seed(0)
    x0, eps = 0.5 * torch.randn(200000, generator=gen), torch.randn(200000, generator=gen)  # data std 0.5
    for t in (100, 300, 700, 999):  # (near t = 0 the sampled estimate is noisier than c_skip itself)
        x_t = schedule.q_sample(x0, torch.full((len(x0),), t), eps)
        c_skip, c_out = schedule.eps_preconditioning(torch.tensor([t]), 0.5, x_t)
        best = (eps * x_t).mean() / (x_t * x_t).mean()  # least-squares c in eps ~ c x_t
        assert c_skip.item() == pytest.approx(best.item(), rel=0.02, abs=0.002)
        assert c_out.item() == pytest.approx((eps - c_skip * x_t).std().item(), rel=0.02)


def test_preconditioning_with_unit_sigma_data_makes_the_network_predict_v():
    # What the README promises: with diffusion.sigma_data=1 the network's target is v (Salimans & Ho 2022).
    schedule = LinearSchedule()
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, 8, 8, generator=gen), torch.randn(4, 3, 8, 8, generator=gen)
    t = torch.tensor([0, 250, 600, 999])
    x_t = schedule.q_sample(x0, t, eps)
    c_skip, c_out = schedule.eps_preconditioning(t, 1.0, x_t)
    abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    v = abar.sqrt() * eps - (1 - abar).sqrt() * x0
    assert torch.allclose((eps - c_skip * x_t) / c_out, v, atol=1e-4)  # float32: c_out(999) = 0.006


def test_preconditioned_eps_is_almost_x_t_at_high_noise_even_untrained():
    plugin = tiny_plugin("diffusion.preconditioning=true")
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([999, 999]), torch.tensor([1, 2])
    eps = plugin.eps(plugin.modules["unet"], x, t, y)
    assert (eps - x).abs().max() < 0.05  # c_out(999) = 0.003: the network only adds a correction
    raw = tiny_plugin("diffusion.preconditioning=false")
    assert torch.equal(raw.eps(raw.modules["unet"], x, t, y), raw.modules["unet"](x, t, y))


def test_min_snr_weights_are_min_snr_gamma_over_snr():
    schedule = LinearSchedule()
    t = torch.tensor([0, 50, 200, 999])
    abar = schedule.alphas_cumprod[t].double()
    snr = abar / (1 - abar)
    expected = torch.minimum(snr, torch.full_like(snr, 5.0)) / snr
    weights = schedule.min_snr_weight(t, 5.0)
    assert torch.allclose(weights.double(), expected, rtol=1e-5)
    assert weights[0] < 0.01 and weights[-1] == 1.0  # low noise is down-weighted, high noise keeps 1
    assert torch.equal(schedule.min_snr_weight(t, 0.0), torch.ones(4))


def test_training_loss_carries_the_min_snr_weights():
    """With a network that predicts zeros, the loss is the weighted mean of each image's noise power."""
    plugin = tiny_plugin("diffusion.snr_gamma=5", "diffusion.preconditioning=false")

    class Zeros(torch.nn.Module):
        def forward(self, x, t, labels):
            return x * 0

    plugin.modules["unet"] = Zeros()
    batch = {"image": torch.zeros(64, 3, 4, 4), "label": torch.zeros(64, dtype=torch.long)}
    torch.manual_seed(3)
    step = RecordingStep(backward=False)
    plugin.training_step(batch, step)
    losses = step.losses
    torch.manual_seed(3)  # the same draws: t first, then the noise
    t = torch.randint(0, 1000, (64,))
    noise = torch.randn(64, 3, 4, 4)
    expected = (plugin.schedule.min_snr_weight(t, 5.0) * noise.pow(2).flatten(1).mean(1)).mean()
    assert losses[0].item() == pytest.approx(expected.item(), rel=1e-5)
    assert losses[0].item() < 0.97 * noise.pow(2).mean().item()  # really weighted: below the plain MSE


def test_bad_schedules_and_steps_are_refused():
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="beta_start < beta_end"):
        LinearSchedule(1000, 0.02, 1e-4)
    with pytest.raises(ConfigError, match="unknown scheduler 'euler'"):
        make_scheduler("euler", LinearSchedule())
    with pytest.raises(ConfigError, match="takes all 1000 steps"):
        make_scheduler("reference", LinearSchedule()).set_timesteps(50)
    with pytest.raises(ConfigError, match="--steps must be between 1 and 1000"):
        tiny_plugin().sampling_defaults("ddim", 0, None)
    with pytest.raises(ConfigError, match="snr_gamma must be 0"):
        tiny_plugin("diffusion.snr_gamma=-1")


def test_trajectory_times():
    assert trajectory_times(1000) == [1000, 800, 600, 400, 200, 0]


# --- the network and guidance -------------------------------------------------------------------------
def test_unet_shape_and_label_conditioning():
    torch.manual_seed(0)
    unet = UNetConditional(image_size=28, channels=(8, 16, 16), attention=(7,), time_dim=16).eval()
    x, t = torch.randn(2, 3, 28, 28), torch.tensor([10, 900])
    out_3 = unet(x, t, torch.tensor([3, 3]))
    assert out_3.shape == x.shape
    assert not torch.allclose(out_3, unet(x, t, torch.tensor([5, 5])))
    assert not torch.allclose(out_3, unet(x, torch.tensor([11, 901]), torch.tensor([3, 3])))  # and on t


def test_reference_preset_is_the_reports_architecture():
    from zoo.config import read_yaml

    spec = Registry.discover().get("ddpm_unet")
    unet = spec.build(spec.config([read_yaml(PROJECT_ROOT / "plugins" / "ddpm_unet" / "reference.yaml")])).modules[
        "unet"
    ]
    attention = [m for m in unet.modules() if isinstance(m, SelfAttention)]
    # sa1-sa6 of the reports: after each of the three down and three up blocks, at widths 128/256/256/128/64/64.
    assert [a.ln.normalized_shape[0] for a in attention] == [128, 256, 256, 128, 64, 64]
    assert unet.bottleneck[0].double_conv[0].out_channels == 512
    assert unet(torch.randn(1, 3, 28, 28), torch.tensor([5]), torch.tensor([2])).shape == (1, 3, 28, 28)


def test_guidance_weights():
    torch.manual_seed(0)
    unet = UNetConditional(image_size=16, channels=(8, 8), attention=(), time_dim=16).eval()
    x, t, y = torch.randn(3, 3, 16, 16), torch.tensor([5, 50, 500]), torch.tensor([1, 2, 3])
    null = torch.full_like(y, 10)
    conditional, unconditional = unet(x, t, y), unet(x, t, null)
    assert torch.allclose(guided_eps(unet, x, t, y, 10, 0.0), unconditional)
    assert torch.allclose(guided_eps(unet, x, t, y, 10, 1.0), conditional)
    expected = unconditional + 3.0 * (conditional - unconditional)
    assert torch.allclose(guided_eps(unet, x, t, y, 10, 3.0), expected, atol=1e-5)


def test_training_drops_labels_at_the_configured_rate():
    plugin = tiny_plugin("diffusion.label_dropout=0.25")
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, x, t, labels):
            seen.append(labels)
            return x * 0

    plugin.modules["unet"] = Recorder()

    torch.manual_seed(0)
    batch = {"image": torch.zeros(4000, 3, 2, 2), "label": torch.randint(0, 10, (4000,))}
    plugin.training_step(batch, RecordingStep(backward=False))
    dropped = (seen[0] == 10).float().mean().item()
    assert dropped == pytest.approx(0.25, abs=0.03)
    kept = seen[0] != 10
    assert torch.equal(seen[0][kept], batch["label"][kept])


# --- sampling -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, steps", [("ddpm", 50), ("ddim", 4), ("dpm", 4), ("reference", 50)])
def test_each_scheduler_samples_deterministically(kind, steps):
    plugin = tiny_plugin("diffusion.timesteps=50")  # a short schedule keeps the all-steps samplers quick
    labels = torch.tensor([0, 1, 1])
    first = plugin.sample(labels, seed=3, scheduler=kind, steps=steps, guidance=2.0)
    assert first.shape == (3, 3, 16, 16) and first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, plugin.sample(labels, seed=3, scheduler=kind, steps=steps, guidance=2.0))
    assert not torch.equal(first, plugin.sample(labels, seed=4, scheduler=kind, steps=steps, guidance=2.0))


def test_an_image_depends_on_seed_label_and_rank_only():
    plugin = tiny_plugin()
    both = plugin.sample(torch.tensor([0, 0, 7]), seed=1, scheduler="ddim", steps=3, batch_size=3)
    alone = plugin.sample(torch.tensor([7, 0]), seed=1, scheduler="ddim", steps=3, batch_size=1)
    # Batched convolutions may round differently from single ones; other noise would differ by O(1).
    assert torch.allclose(both[2], alone[0], atol=1e-3)  # the first 7, whatever else is drawn
    assert torch.allclose(both[0], alone[1], atol=1e-3)  # the first 0


def test_trajectory_starts_at_noise_and_ends_at_the_sample():
    plugin = tiny_plugin()
    frames, captions = plugin.trajectory(0, seed=0, scheduler="ddim", steps=10)
    images = plugin.sample(torch.tensor([0]), seed=0, scheduler="ddim", steps=10)
    assert frames.shape == (6, 3, 16, 16) and captions == [f"t={t}" for t in trajectory_times(1000)]
    assert torch.equal(frames[-1], images[0])
    assert not torch.allclose(frames[0], frames[-1])


# --- the CLI ----------------------------------------------------------------------------------------
def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_sample_and_evaluate_through_the_cli(tmp_path):
    run = tmp_path / "run"
    result = zoo("run", "ddpm_unet", *TINY_DDPM, "--set", "train.steps=3", "--set", "train.ema_decay=0.9", "--out", run)
    assert result.exit_code == 0, result.output
    weights = tmp_path / "ddpm.safetensors"
    assert zoo("export", run, "--out", weights).exit_code == 0
    shown = zoo("inspect", weights).output  # what the file says about itself, for use without the run
    assert "ddpm_unet (sampler)" in shown and "labels:         0,1,2,3,4,5,6,7,8,9" in shown
    assert "image_size:     16" in shown and "ema:            true" in shown and "label_dropout: 0.1" in shown

    out = tmp_path / "samples"
    result = zoo(
        "sample",
        "ddpm_unet",
        "--weights",
        weights,
        "--per-class",
        3,
        "--seed",
        0,
        "--out",
        out,
        "--grid",
        tmp_path / "grid.png",
        "--trajectory",
        tmp_path / "strip.png",
        "--scheduler",
        "dpm",
        "--steps",
        3,
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{d}_{k:03d}.png" for d in range(10) for k in (1, 2, 3)]
    # 10 x 10 tiles of 16 px with 2 px padding; six 4x-enlarged frames in the strip.
    assert Image.open(tmp_path / "grid.png").size == (10 * 18 + 2, 10 * 18 + 2)
    assert Image.open(tmp_path / "strip.png").size[0] == 6 * (16 * 4 + 4) + 4

    again = tmp_path / "again"
    zoo(
        "sample",
        "--weights",
        weights,
        "--per-class",
        3,
        "--seed",
        0,
        "--out",
        again,
        "--scheduler",
        "dpm",
        "--steps",
        3,
    )
    assert all(_digest(out / n) == _digest(again / n) for n in names)

    # The evaluator: a classifier trained a few steps on the embedded digits.
    clf_run = tmp_path / "clf"
    result = zoo(
        "run",
        "digit_classifier",
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=16",
        "--set",
        "model.width=4",
        "--set",
        "train.sample_every=0",
        "--out",
        clf_run,
    )
    assert result.exit_code == 0, result.output
    zoo("export", clf_run, "--out", tmp_path / "clf.safetensors")
    result = zoo("eval", "digits", out, "--classifier", tmp_path / "clf.safetensors")
    assert result.exit_code == 0, result.output
    assert "evaluator (digit_classifier, step 2) on real held-out digits:" in result.output
    import json

    scores = json.loads((tmp_path / "samples-digits.json").read_text())
    assert scores["count"] == 30 and set(scores["per_digit"]) == {str(d) for d in range(10)}
    # The evaluator's own figure, recounted from the exported file on the held-out embedded digits.
    from zoo.data.digits import labelled_digits
    from zoo.metrics.accuracy import domain_accuracy
    from zoo.sharing.exports import load_model

    _, classifier, _ = load_model(tmp_path / "clf.safetensors", Registry.discover())
    assert scores["classifier_real_accuracy"] == domain_accuracy(classifier, labelled_digits("", "val", 28))
    assert "embedded/val: 360 images" in scores["classifier_real_data"]


def test_sampling_flags_are_checked(tmp_path):
    run = tmp_path / "run"
    zoo("run", "ddpm_unet", *TINY_DDPM, "--set", "train.steps=1", "--out", run)
    zoo("export", run, "--out", tmp_path / "d.safetensors")
    result = zoo(
        "sample",
        "--weights",
        tmp_path / "d.safetensors",
        "--grid",
        tmp_path / "g.png",
        "--scheduler",
        "reference",
        "--steps",
        20,
    )
    assert result.exit_code == 1 and "takes all 1000 steps" in result.output
    result = zoo("sample", "--weights", tmp_path / "d.safetensors", "--out", tmp_path / "o", "--guidance", -1)
    assert result.exit_code == 1 and "--guidance must be 0 or more" in result.output
    result = zoo("sample", "--weights", tmp_path / "d.safetensors")
    assert result.exit_code == 1 and "say what to write: --out FOLDER" in result.output
    result = zoo("sample", "--weights", tmp_path / "d.safetensors", "--out", tmp_path / "o", "-n", 3, "--per-class", 2)
    assert result.exit_code == 1 and "give one of -n, --per-class and --labels" in result.output
    result = zoo("sample", "--weights", tmp_path / "d.safetensors", "--out", tmp_path / "o", "--labels", "3,x")
    assert result.exit_code == 1 and "--labels takes class numbers" in result.output
    result = zoo("sample", "--weights", tmp_path / "d.safetensors", "--out", tmp_path / "o", "--labels", "3,12")
    assert result.exit_code == 1 and "labels must be in 0..9" in result.output and not (tmp_path / "o").exists()

    zoo(
        "run",
        "dcgan",
        "--set",
        "data.image_size=16",
        "--set",
        "model.base_channels=4",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.steps=1",
        "--set",
        "train.sample_every=0",
        "--out",
        tmp_path / "gan",
    )
    zoo("export", tmp_path / "gan", "--out", tmp_path / "g.safetensors")
    result = zoo("sample", "--weights", tmp_path / "g.safetensors", "--out", tmp_path / "x", "--per-class", 5)
    assert result.exit_code == 1 and "'dcgan' is unconditional (use -n)" in result.output
    result = zoo("sample", "--weights", tmp_path / "g.safetensors", "--out", tmp_path / "x", "--steps", 5)
    assert result.exit_code == 1 and "--steps only apply to samplers" in result.output
    result = zoo(
        "sample",
        "--weights",
        tmp_path / "g.safetensors",
        "--grid",
        tmp_path / "x.png",
        "--trajectory",
        tmp_path / "t.png",
    )
    assert result.exit_code == 1 and "one pass" in result.output and not (tmp_path / "x.png").exists()


def test_scheduler_names_come_from_the_plugin(tmp_path):
    run = tmp_path / "run"
    zoo("run", "ddpm_unet", *TINY_DDPM, "--set", "train.steps=1", "--out", run)
    zoo("export", run, "--out", tmp_path / "d.safetensors")
    result = zoo(
        "sample", "--weights", tmp_path / "d.safetensors", "--grid", tmp_path / "g.png", "--scheduler", "euler"
    )
    assert result.exit_code == 1
    assert "'ddpm_unet' has no scheduler 'euler'; it offers ddpm, ddim, dpm, reference" in result.output
    from zoo.plugins.ddpm_unet.plugin import DDPMUNet

    # --help names them as an example (without importing torch); it must stay what the plugin offers.
    assert f"ddpm_unet: {', '.join(DDPMUNet.noise_schedulers)}" in " ".join(zoo("sample", "--help").output.split())


def test_study_curves_and_sampling_table(digit_root, tmp_path, monkeypatch):
    import json

    from zoo.plugins.ddpm_unet import benchmark

    monkeypatch.chdir(tmp_path)
    tiny = [o for o in TINY_DDPM if o != "--set"] + ["diffusion.timesteps=20"]
    monkeypatch.setattr(benchmark, "DDPM_OVERRIDES", tuple(tiny))
    monkeypatch.setattr(benchmark, "SECOND_EVALUATOR", "resnet10t")
    monkeypatch.setattr(benchmark, "SETTINGS", (("ddpm", 20, None), ("dpm", 5, None), ("dpm", 3, 1.0)))
    monkeypatch.setattr(
        benchmark,
        "QUICK",
        {"train_steps": 4, "eval_every": 2, "classifier_steps": 2, "per_class": 2, "curve_per_class": 1},
    )
    monkeypatch.setattr(benchmark, "DDPM_PER_CLASS_ON_CPU", 1)
    result = zoo(
        "benchmark",
        "ddpm_unet",
        "--study",
        "--data-root",
        digit_root / "mnistm",
        "--quick",
        "--out",
        tmp_path / "results",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "results").glob("ddpm_unet-*-quick.json")).read_text())
    ddpm, dpm5, dpm3 = report["rows"]
    assert ddpm["images"] == 10 and dpm5["images"] == 20  # the full-length sampler uses fewer images on a CPU
    assert ddpm["network_evaluations_per_image"] == 40 and dpm3["network_evaluations_per_image"] == 3
    # Both arms were trained as configured, and differ only in Min-SNR-gamma.
    runs = tmp_path / "runs" / "benchmark"
    (study,) = runs.glob("ddpm_unet-*-quick")
    from zoo.config import read_yaml

    gammas = {arm: read_yaml(study / arm / "config.yaml")["diffusion"]["snr_gamma"] for arm in report["arms"]}
    assert gammas == {"eps": 0.0, "min-snr-5": 5}
    assert all(arm["threads"] == torch.get_num_threads() for arm in report["arms"].values())
    # A curve point per kept checkpoint; every accuracy is recounted here from the evaluators' weights.
    from zoo.metrics.digits import DigitScorer
    from zoo.sharing.exports import load_model

    assert [e["backbone"] for e in report["evaluators"]] == ["cnn", "resnet10t"]
    evaluators = {
        e["backbone"]: DigitScorer(load_model(Path(e["file"]), Registry.discover())[1]) for e in report["evaluators"]
    }
    assert all(Path(e["file"]).resolve().parent.parent == runs.resolve() for e in report["evaluators"])  # trained here
    for arm in report["arms"].values():
        assert [p["step"] for p in arm["curve"]] == [2, 4]
        assert all(p["minutes"] is not None for p in arm["curve"])
    for row in report["rows"]:
        folder = study / report["best_arm"] / f"samples-{row['scheduler']}-{row['steps']}-g{row['guidance']:g}"
        assert row["accuracy"] == {b: round(s.folder_accuracy(folder)["accuracy"], 4) for b, s in evaluators.items()}
    markdown = next((tmp_path / "results").glob("ddpm_unet-*-quick.md")).read_text()
    assert "95% on both evaluators" in markdown and "| cnn | resnet10t |" in markdown


def test_first_reaching_needs_every_evaluator():
    from zoo.plugins.ddpm_unet.benchmark import first_reaching

    curve = [
        {"step": 500, "minutes": 8.0, "accuracy": {"cnn": 0.96, "resnet18": 0.90}},
        {"step": 1000, "minutes": 16.0, "accuracy": {"cnn": 0.97, "resnet18": 0.955}},
        {"step": 1500, "minutes": 24.0, "accuracy": {"cnn": 0.99, "resnet18": 0.985}},
    ]
    assert first_reaching(curve, 0.95) == {"step": 1000, "minutes": 16.0}
    assert first_reaching(curve, 0.98) == {"step": 1500, "minutes": 24.0}
    assert first_reaching(curve, 0.99) is None
