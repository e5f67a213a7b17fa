"""Class-conditional diffusion: the DDPM schedule written out, diffusers schedulers for sampling,
classifier-free guidance, and the Sampler base class that diffusion plugins build on.

Training uses only the hand-written schedule (Ho et al. 2020: linear betas, epsilon prediction),
optionally with Min-SNR-gamma loss weights (Hang et al. 2023).
Sampling runs any scheduler with diffusers' interface (`set_timesteps`, `timesteps`, `step`):
diffusers' DDPM, DDIM and DPM-Solver++, all built from one config, or `reference`, the hand-written
Ho et al. posterior step. tests/test_diffusion.py checks that the hand-written schedule and
diffusers' agree (alphas_cumprod, one reverse step for the same noise, a whole reverse process).

A plugin subclasses ClassConditionalDiffusion and builds one module, "unet": eps = unet(x_t, t, y)
(or, with diffusion.preconditioning, eps = c_skip(t) x_t + c_out(t) unet(x_t, t, y)), where
y = num_classes means "no label" (the unconditional branch of classifier-free guidance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from tqdm.auto import tqdm

from zoo.config import Config
from zoo.errors import ConfigError
from zoo.interfaces import Sampler, TrainStep
from zoo.noise import class_labels, per_image_generators

SCHEDULERS = ("ddpm", "ddim", "dpm", "reference")


class LinearSchedule:
    """The DDPM forward process: q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), t = 0 .. T-1.

    Computed in float64 and kept in float32, as diffusers keeps it.
    """

    def __init__(
        self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, clip_sample: bool = True
    ):
        if timesteps < 2 or not 0 < beta_start < beta_end < 1:
            raise ConfigError(
                f"the diffusion schedule needs timesteps >= 2 and 0 < beta_start < beta_end < 1; "
                f"got timesteps={timesteps}, beta_start={beta_start}, beta_end={beta_end}"
            )
        self.timesteps, self.beta_start, self.beta_end, self.clip_sample = timesteps, beta_start, beta_end, clip_sample
        betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        self.betas = betas.float()
        self.alphas_cumprod = alphas_cumprod.float()
        # The Ho et al. posterior q(x_{t-1} | x_t, x_0): mean = c0 * x_0 + ct * x_t, variance beta~_t.
        self.posterior_x0_coef = (previous.sqrt() * betas / (1 - alphas_cumprod)).float()
        self.posterior_xt_coef = ((1 - betas).sqrt() * (1 - previous) / (1 - alphas_cumprod)).float()
        self.posterior_variance = (betas * (1 - previous) / (1 - alphas_cumprod)).float()

    @staticmethod
    def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """values[t] shaped to broadcast over images like `like`."""
        return values.to(like.device)[t.to(like.device)].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        abar = self._at(self.alphas_cumprod, t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        abar = self._at(self.alphas_cumprod, t, x_t)
        x0 = (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()
        return x0.clamp(-1, 1) if self.clip_sample else x0

    def reverse_step(self, eps: torch.Tensor, t: torch.Tensor, x_t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_{t-1} ~ p(x_{t-1} | x_t): the posterior mean given the predicted x_0, plus sqrt(beta~_t) noise
        (none at t = 0)."""
        x0 = self.predict_x0(x_t, t, eps)
        mean = self._at(self.posterior_x0_coef, t, x_t) * x0 + self._at(self.posterior_xt_coef, t, x_t) * x_t
        std = self._at(self.posterior_variance, t, x_t).sqrt()
        return mean + std * noise

    def eps_preconditioning(
        self, t: torch.Tensor, sigma_data: float, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(c_skip, c_out) of eps = c_skip x_t + c_out F(x_t): the EDM idea (Karras et al. 2022) for an
        epsilon target. c_skip is the least-squares multiple of x_t that predicts eps for data of std
        sigma_data, and c_out the std of what is left, so F always has a unit-scale target. At high noise
        eps is almost x_t itself, which a stack of normalised conv blocks reproduces poorly."""
        abar = self._at(self.alphas_cumprod, t, like)
        signal, noise = abar.sqrt(), (1 - abar).sqrt()
        denominator = noise**2 + (signal * sigma_data) ** 2
        return noise / denominator, signal * sigma_data / denominator.sqrt()

    def min_snr_weight(self, t: torch.Tensor, gamma: float) -> torch.Tensor:
        """Min-SNR-gamma loss weights for an epsilon target (Hang et al. 2023): min(SNR_t, gamma) / SNR_t,
        SNR_t = abar_t / (1 - abar_t). Low-noise steps, whose eps is hard to see and easy to overfit,
        stop dominating the gradient; steps with SNR below gamma keep weight 1. gamma = 0: all 1."""
        if gamma <= 0:
            return torch.ones(len(t), device=t.device)
        abar = self.alphas_cumprod.to(t.device)[t]
        snr = abar / (1 - abar)
        return snr.clamp(max=gamma) / snr

    def diffusers_config(self) -> dict[str, Any]:
        """The same schedule as a diffusers scheduler config."""
        return {
            "num_train_timesteps": self.timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": "linear",
            "prediction_type": "epsilon",
            "clip_sample": self.clip_sample,
            # "trailing" starts few-step samplers at t = T-1, from pure noise (Lin et al. 2023);
            # with all T steps every spacing gives T-1 ... 0.
            "timestep_spacing": "trailing",
        }


@dataclass
class _StepOutput:
    prev_sample: torch.Tensor


class ReferenceDDPM:
    """The hand-written schedule behind diffusers' scheduler interface, so one loop drives both."""

    init_noise_sigma = 1.0

    def __init__(self, schedule: LinearSchedule):
        self.schedule = schedule
        self.timesteps = torch.arange(schedule.timesteps - 1, -1, -1)

    def set_timesteps(self, steps: int, device=None) -> None:
        if steps != self.schedule.timesteps:
            raise ConfigError(
                f"the reference DDPM sampler takes all {self.schedule.timesteps} steps (got --steps {steps}); "
                "for fewer steps use --scheduler ddim or dpm"
            )

    def scale_model_input(self, sample: torch.Tensor, timestep) -> torch.Tensor:
        return sample

    def step(self, model_output, timestep, sample, generator=None) -> _StepOutput:
        from diffusers.utils.torch_utils import randn_tensor

        t = torch.full((len(sample),), int(timestep), dtype=torch.long)
        if int(timestep) == 0:  # the last step adds no noise, and (as diffusers) draws none
            noise = torch.zeros_like(sample)
        else:
            noise = randn_tensor(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
        return _StepOutput(self.schedule.reverse_step(model_output, t, sample, noise))


def make_scheduler(kind: str, schedule: LinearSchedule):
    """A fresh scheduler of `kind` for `schedule`. diffusers' are all built from one DDPM config
    (`from_config`), so they share betas and timesteps by construction."""
    if kind == "reference":
        return ReferenceDDPM(schedule)
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    classes = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}
    if kind not in classes:
        raise ConfigError(f"unknown scheduler '{kind}'; choose one of {', '.join(SCHEDULERS)}")
    ddpm = DDPMScheduler(**schedule.diffusers_config())
    return ddpm if kind == "ddpm" else classes[kind].from_config(ddpm.config)


def guided_eps(
    eps_model, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, null_label: int, guidance: float
) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): eps_u + w (eps_c - eps_u).

    w = 0 is the unconditional model, w = 1 the conditional one, w > 1 pushes further towards the
    label. Only the branches a weight needs are run, both in one batch when it needs two.
    """
    if guidance == 1.0:
        return eps_model(x, t, labels)
    unconditional = torch.full_like(labels, null_label)
    if guidance == 0.0:
        return eps_model(x, t, unconditional)
    both = eps_model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, unconditional]))
    conditional, unconditional_eps = both.chunk(2)
    return unconditional_eps + guidance * (conditional - unconditional_eps)


def network_evaluations_per_step(guidance: float) -> int:
    """UNet passes per image and sampling step under guided_eps: one at weight 0 or 1, else two."""
    return 1 if guidance in (0.0, 1.0) else 2


def trajectory_times(total: int, frames: int = 6) -> list[int]:
    """Noise levels to show in a reverse-process strip: T, ..., 0 evenly (1000, 800, ..., 0)."""
    return [round(total * (1 - i / (frames - 1))) for i in range(frames)]


class ClassConditionalDiffusion(Sampler):
    """Epsilon-prediction training on the linear schedule with label dropout, and guided sampling."""

    ema_modules = ("unet",)
    export_modules = ("unet",)
    noise_schedulers = SCHEDULERS

    def __init__(self, config: Config):
        d = config.diffusion
        if not 0.0 <= d.label_dropout < 1.0:
            raise ConfigError(f"diffusion.label_dropout must be in [0, 1), got {d.label_dropout}")
        if d.snr_gamma < 0:
            raise ConfigError(f"diffusion.snr_gamma must be 0 (off) or positive (5 is the paper's), got {d.snr_gamma}")
        self.schedule = LinearSchedule(d.timesteps, d.beta_start, d.beta_end, d.clip_sample)
        super().__init__(config)

    @property
    def num_classes(self) -> int:
        return self.config.model.num_classes

    @property
    def null_label(self) -> int:
        return self.num_classes

    def eps(self, unet: torch.nn.Module, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The predicted noise: the UNet's output, preconditioned when diffusion.preconditioning is on."""
        d = self.config.diffusion
        if not d.preconditioning:
            return unet(x_t, t, labels)
        c_skip, c_out = self.schedule.eps_preconditioning(t, d.sigma_data, x_t)
        return c_skip * x_t + c_out * unet(x_t, t, labels)

    # --- training -------------------------------------------------------------------------------
    def training_step(self, batch: dict, step: TrainStep) -> dict[str, torch.Tensor]:
        x0, labels = batch["image"], batch["label"]
        n = len(x0)
        t = torch.randint(0, self.schedule.timesteps, (n,), device=x0.device)
        noise = torch.randn_like(x0)
        # Dropping the label teaches the same network the unconditional eps that guidance needs.
        dropped = torch.rand(n, device=x0.device) < self.config.diffusion.label_dropout
        labels = torch.where(dropped, torch.full_like(labels, self.null_label), labels)
        eps = self.eps(self.modules["unet"], self.schedule.q_sample(x0, t, noise), t, labels)
        per_image = (eps.float() - noise.float()).pow(2).flatten(1).mean(1)
        loss = (self.schedule.min_snr_weight(t, self.config.diffusion.snr_gamma) * per_image).mean()
        step.optimize("unet", loss)
        return {"loss": loss.detach()}

    # --- sampling: the diffusers pipeline shape, (unet, scheduler) and one short loop --------------
    def sampling_defaults(
        self, scheduler: str | None, steps: int | None, guidance: float | None
    ) -> tuple[str, int, float]:
        s = self.config.sample
        scheduler = scheduler or s.scheduler
        if scheduler not in SCHEDULERS:
            name = self.registered_name or type(self).__name__
            raise ConfigError(f"'{name}' has no scheduler '{scheduler}'; it offers {', '.join(SCHEDULERS)}")
        if steps is None:
            steps = self.schedule.timesteps if scheduler in ("ddpm", "reference") else s.steps
        guidance = s.guidance if guidance is None else guidance
        if not 1 <= steps <= self.schedule.timesteps:
            raise ConfigError(f"--steps must be between 1 and {self.schedule.timesteps}, got {steps}")
        if guidance < 0:
            raise ConfigError(f"--guidance must be 0 or more (0: unconditional, 1: conditional), got {guidance}")
        return scheduler, steps, guidance

    @torch.no_grad()
    def sample(
        self,
        labels: torch.Tensor,
        seed: int,
        scheduler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        batch_size: int = 250,
        progress: bool = False,
    ) -> torch.Tensor:
        """One image per label, (n, C, H, W) in [-1, 1] on the CPU, deterministic for a seed."""
        kind, steps, guidance = self.sampling_defaults(scheduler, steps, guidance)
        labels = self._checked_labels(labels)
        generators = per_image_generators(labels.tolist(), seed)
        sampler = make_scheduler(kind, self.schedule)
        bar = tqdm(
            total=len(labels) * steps,
            disable=not progress,
            unit="img-step",
            unit_scale=True,
            dynamic_ncols=True,
            desc=f"{kind} {steps} steps, guidance {guidance:g}",
        )
        chunks = []
        for start in range(0, len(labels), batch_size):
            batch = labels[start : start + batch_size]
            chunks.append(
                self._denoise(
                    sampler,
                    steps,
                    guidance,
                    batch,
                    generators[start : start + batch_size],
                    on_step=partial(bar.update, len(batch)),
                )
            )
        bar.close()
        return torch.cat(chunks) if chunks else torch.empty(0, self.config.model.image_channels, *self._image_size)

    @torch.no_grad()
    def trajectory(
        self,
        label: int,
        seed: int,
        scheduler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
    ) -> tuple[torch.Tensor, list[str]]:
        """The first image of `label` at noise levels T, 0.8 T, ..., 0: the reverse-process strip."""
        kind, steps, guidance = self.sampling_defaults(scheduler, steps, guidance)
        labels = self._checked_labels([label])
        times, frames = trajectory_times(self.schedule.timesteps), {}
        image = self._denoise(
            make_scheduler(kind, self.schedule),
            steps,
            guidance,
            labels,
            per_image_generators([label], seed),
            on_state=_recorder(times, frames),
        )
        frames[0] = image[0]
        return torch.stack([frames[t] for t in times]).clamp(-1, 1), [f"t={t}" for t in times]

    def preview(self, seed: int) -> torch.Tensor:
        """Eight images of each class, rows = classes (a quick DDIM sampler, to keep previews cheap)."""
        per_row = 8
        labels = torch.arange(self.num_classes).repeat_interleave(per_row)
        return self.sample(labels, seed, scheduler="ddim", steps=min(25, self.schedule.timesteps))

    @property
    def _image_size(self) -> tuple[int, int]:
        size = self.config.data.image_size
        return size, size

    def _checked_labels(self, labels) -> torch.Tensor:
        return class_labels(len(labels), self.num_classes, labels)

    def _denoise(
        self,
        scheduler,
        steps: int,
        guidance: float,
        labels: torch.Tensor,
        generators: Sequence[torch.Generator],
        on_step: Callable[[], None] = lambda: None,
        on_state: Callable[[int, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """One batch from noise to images, (n, C, H, W) in [-1, 1] on the CPU."""
        unet = self.modules["unet"].eval()

        def eps(x, t, y):
            return guided_eps(lambda *a: self.eps(unet, *a), x, t, y, self.null_label, guidance)

        shape = (self.config.model.image_channels, *self._image_size)
        x = reverse_process(eps, scheduler, steps, labels.to(self.device), generators, shape, on_step, on_state)
        return x.clamp(-1, 1).float().cpu()


def _recorder(times: Sequence[int], frames: dict[int, torch.Tensor]) -> Callable[[int, torch.Tensor], None]:
    """Keeps the first image of the first state at or below each wanted noise level."""

    def on_state(level: int, x: torch.Tensor) -> None:
        for t in times:
            if t not in frames and level <= t:
                frames[t] = x[0].float().cpu()

    return on_state


def reverse_process(
    eps_fn,
    scheduler,
    steps: int,
    labels: torch.Tensor,
    generators: Sequence[torch.Generator],
    shape: Sequence[int],
    on_step: Callable[[], None] = lambda: None,
    on_state: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """x_T ~ N(0, I) from the per-image generators, then `steps` scheduler steps down to x_0.

    eps_fn(x, t, labels) predicts the noise; on_step runs after each step, on_state(noise level, x)
    before each step and once at the end (for trajectories)."""
    from diffusers.utils.torch_utils import randn_tensor

    device = labels.device
    scheduler.set_timesteps(steps)
    x = randn_tensor((len(labels), *shape), generator=list(generators), device=device, dtype=torch.float32)
    x = x * scheduler.init_noise_sigma
    for timestep in scheduler.timesteps:
        # The input at (0-indexed) timestep t is x_{t+1} in Ho et al.'s numbering: noise level t+1.
        if on_state:
            on_state(int(timestep) + 1, x)
        t = torch.full((len(labels),), int(timestep), device=device, dtype=torch.long)
        eps = eps_fn(scheduler.scale_model_input(x, timestep), t, labels).float()
        x = scheduler.step(eps, timestep, x, generator=list(generators)).prev_sample
        on_step()
    if on_state:
        on_state(0, x)
    return x
