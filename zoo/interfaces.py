"""The four plugin families. The CLI, the engine and the benchmarks speak only to these.

A plugin is a class built from a resolved config. It owns its modules (`self.modules`) and says how to
train them: optimizers, a dataset, and one `training_step`. The loop, devices, mixed precision,
checkpoints, EMA and logging belong to the engine (zoo.training.engine).

- Generator: one forward pass from noise to image (GANs); class-conditional when it declares
             `num_classes` > 0, and then it takes one label per image.
- Sampler:   an iterative process from noise to image, conditioned on a label (diffusion), with
             named samplers (`noise_schedulers`) and, optionally, a picture of its trajectory.
- Classifier: labelled images in, class predictions out (the digit evaluator of generated samples).
- Adapter:   a Classifier fit on labelled source + unlabelled target images (DANN).

Every call zoo makes on a plugin is declared here, with its defaults: `zoo sample`, `zoo benchmark`
and zoo.testing.check_plugin call nothing else. Class-conditional output (either family) follows one
rule: image i depends only on (seed, label, rank of i among the images of that label), so
`--per-class`, `--labels` and `-n` name the same image the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from zoo.config import Config
from zoo.errors import PluginError


class TrainStep(Protocol):
    """What `training_step` gets besides the batch: the step index, the device, and a way to update a
    module. This is the whole contract: the engine passes one (zoo.training.step.AcceleratedStep),
    the plain reference loop and tests another (zoo.testing.RecordingStep), so a plugin uses nothing
    else of it.

    Under the engine, `optimize` goes through Accelerate, so mixed-precision loss scaling, gradient
    accumulation (the optimizer only steps on the last micro-batch) and multi-GPU gradient sync need
    no code in the plugin.
    """

    index: int

    @property
    def device(self) -> torch.device: ...

    def unwrap(self, module: nn.Module) -> nn.Module:
        """The module without its multi-GPU wrapper, for a forward pass whose parameters get no update."""
        ...

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        """Backpropagate `loss` and step the optimizer named `optimizer` (a key of configure_optimizers)."""
        ...


@dataclass(frozen=True)
class BenchmarkSpec:
    """What `zoo benchmark` trains a plugin on, for how long, and how it scores it.

    Without `--data-root` every plugin trains on the embedded digits and is scored with its family's
    digit metric; with it, `data` (a folder under the root) becomes `data.root`, `config` (a file
    beside the plugin's default.yaml) is applied, and `metrics` are measured. The metric names are
    those of zoo.bench.quality.METRICS.
    """

    data: str = ""  # e.g. "face/train", "digits/mnistm"; "" keeps the embedded data even with --data-root
    config: str = ""  # e.g. "faces.yaml"
    metrics: tuple[str, ...] = ()  # with --data-root; default: the family's digit metric
    reference: str = (
        ""  # real images FID compares with, a held-out split under the root (e.g. "face/val"); default `data`
    )
    steps: int = 2000  # training steps of the full benchmark
    quick_steps: int = 30  # ... and of `--quick`
    samples: int = 1000  # images generated / sampled / classified for throughput and quality
    quick_samples: int = 100
    overrides: tuple[str, ...] = ()  # config KEY=VALUE for the full benchmark
    quick_overrides: tuple[str, ...] = ()  # ... and for `--quick`


class Plugin(abc.ABC):
    family: ClassVar[str]
    # One line for `zoo list`; defaults to the first line of the class docstring.
    summary: ClassVar[str] = ""
    # Modules the engine keeps an exponential moving average of when train.ema_decay > 0.
    ema_modules: ClassVar[tuple[str, ...]] = ()
    # Modules inference needs: what `zoo export` writes and `zoo sample` / `zoo predict` load.
    export_modules: ClassVar[tuple[str, ...]] = ()
    # Further modules build_modules() must return, because a base class's training_step uses them by name.
    required_modules: ClassVar[tuple[str, ...]] = ()
    # How `zoo benchmark` measures the plugin; None: it is listed as having no benchmark spec.
    benchmark: ClassVar[BenchmarkSpec | None] = None
    # A deeper study, "module:function", run by `zoo benchmark NAME --study`:
    # function(data_root, out_dir, quick, steps) -> paths written (e.g. the HW2 DANN table).
    study: ClassVar[str | None] = None
    # The name it is registered under (`zoo list`), set by the registry when it builds the plugin.
    registered_name: str = ""

    def __init__(self, config: Config):
        self.config = config
        self.modules: dict[str, nn.Module] = dict(self.build_modules())
        needed = set(self.required_modules + self.export_modules + self.ema_modules)
        if needed - set(self.modules):
            # The class that asks for them: a base such as zoo.gan.GAN, whose training step uses them by name.
            owner = next(
                c
                for c in type(self).__mro__
                if any(vars(c).get(k) for k in ("required_modules", "export_modules", "ema_modules"))
            )
            raise PluginError(
                f"{type(self).__name__}.build_modules() returned {sorted(self.modules)}; it must build "
                f"{sorted(needed)} (the modules {owner.__module__}.{owner.__qualname__} trains and exports by name)"
            )

    # --- what every plugin provides -------------------------------------------------------------
    @abc.abstractmethod
    def build_modules(self) -> dict[str, nn.Module]:
        """The networks, initialised, on the CPU."""

    @abc.abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per name; `TrainStep.optimize(name, loss)` updates with it."""

    def configure_lr_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
        """Learning-rate schedulers, stepped by the engine once per optimizer step."""
        return {}

    @abc.abstractmethod
    def train_dataset(self) -> torch.utils.data.Dataset:
        """The training set, built from `config.data`."""

    @abc.abstractmethod
    def training_step(self, batch: Any, step: TrainStep) -> dict[str, torch.Tensor | float]:
        """One optimizer step's work on one (micro-)batch; returns scalars to log."""

    def preview(self, seed: int) -> torch.Tensor | None:
        """Images in [-1, 1] for the run's preview grid, or None if the family has no pictures."""
        return None

    def evaluate(self) -> dict[str, float]:
        """Quality figures on held-out data, logged with each preview (train.sample_every)."""
        return {}

    @classmethod
    def io_metadata(cls, config: Config) -> dict[str, str]:
        """What a user of the exported weights needs besides the tensors: image size, pixel range and,
        for class-conditional or classifying models, the label set. Stored in the file's metadata."""
        info = {"image_size": str(config.data.image_size), "normalisation": "RGB scaled to [-1, 1]: x / 127.5 - 1"}
        classes = config.get("model", {}).get("num_classes")
        if classes:
            info["labels"] = ",".join(str(i) for i in range(classes))
        return info

    # --- shared helpers -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for module in self.modules.values():
            for tensor in module.parameters():
                return tensor.device
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> Plugin:
        for module in self.modules.values():
            module.to(device)
        return self

    @contextmanager
    def modules_swapped(self, replacements: Mapping[str, nn.Module]) -> Iterator[None]:
        """Temporarily use other modules (EMA copies, unwrapped models) under the same names."""
        saved = dict(self.modules)
        self.modules.update(replacements)
        try:
            yield
        finally:
            self.modules = saved


class Generator(Plugin):
    """One forward pass from noise to image."""

    family = "generator"

    @property
    def num_classes(self) -> int:
        """0 for an unconditional generator. A class-conditional one returns its label count
        (labels 0 .. num_classes - 1) and `generate` then takes `labels`."""
        return 0

    @abc.abstractmethod
    def generate(
        self,
        n: int,
        seed: int,
        batch_size: int = 256,
        labels: torch.Tensor | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """`n` images, (n, C, H, W) in [-1, 1] on the CPU, at most `batch_size` per forward pass.

        Unconditional: image i depends only on (seed, i). Class-conditional (num_classes > 0): `labels`
        holds n labels (None: 0, 1, ..., num_classes - 1, 0, 1, ...) and image i depends only on
        (seed, labels[i], rank of i among the images with that label); zoo.noise draws such noise.
        `progress` asks for a progress bar (tqdm) over long calls.
        """

    def preview(self, seed: int) -> torch.Tensor:
        if self.num_classes:  # eight of each class, rows = classes
            return self.generate(8 * self.num_classes, seed, labels=torch.arange(self.num_classes).repeat_interleave(8))
        return self.generate(64, seed)


class Sampler(Plugin):
    """An iterative process from noise to image, conditioned on a class label.

    `noise_schedulers` names the samplers `zoo sample --scheduler` may choose (the first one need not be
    the default: `sampling_defaults` says which is). A sampler that can show its process overrides
    `trajectory`; `has_trajectory(plugin)` tells whether it does.
    """

    family = "sampler"
    noise_schedulers: ClassVar[tuple[str, ...]] = ()

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """Labels are 0 .. num_classes - 1."""

    @abc.abstractmethod
    def sampling_defaults(
        self, scheduler: str | None, steps: int | None, guidance: float | None
    ) -> tuple[str, int, float]:
        """(scheduler, steps, guidance) with each None replaced by the plugin's default; a value the
        plugin cannot use raises zoo.errors.ConfigError naming the allowed ones."""

    @abc.abstractmethod
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
        """One image per label, (n, C, H, W) in [-1, 1] on the CPU, at most `batch_size` at a time.
        Image i depends only on (seed, labels[i], rank of i among the images with that label). None
        settings mean the plugin's defaults (`sampling_defaults`); `progress` asks for a progress bar."""

    def trajectory(
        self,
        label: int,
        seed: int,
        scheduler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
    ) -> tuple[torch.Tensor, list[str]]:
        """Optional: the first image of `label` on its way from noise to image, as (frames, C, H, W)
        in [-1, 1] on the CPU from noise to the final image, with one caption per frame."""
        raise NotImplementedError(f"{type(self).__name__} does not show its trajectory")


def has_trajectory(plugin: Plugin) -> bool:
    """Whether a Sampler overrides `trajectory` (`zoo sample --trajectory` needs it)."""
    return isinstance(plugin, Sampler) and type(plugin).trajectory is not Sampler.trajectory


def class_conditional(plugin: Plugin) -> bool:
    """Whether the plugin makes images of a requested class: every Sampler, and Generators with num_classes."""
    return isinstance(plugin, Sampler) or (isinstance(plugin, Generator) and plugin.num_classes > 0)


class Classifier(Plugin):
    """Predicts the class of an image (e.g. the digit evaluator that scores generated samples)."""

    family = "classifier"

    @abc.abstractmethod
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class indices, (n,), on the CPU, for images in [-1, 1]."""

    @abc.abstractmethod
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Feature vectors, (n, d), on the CPU: the space the last layer classifies (for t-SNE pictures)."""


class Adapter(Classifier):
    """A Classifier that learns from labelled source and unlabelled target images."""

    family = "adapter"

    @abc.abstractmethod
    def domain(self, which: str, split: str):
        """The labelled `split` ("train" | "val") of the "source" or "target" domain in its config,
        as a zoo.data.digits.DigitDomain."""


FAMILIES: dict[str, type[Plugin]] = {cls.family: cls for cls in (Generator, Sampler, Classifier, Adapter)}


def capabilities(plugin: Plugin) -> list[str]:
    """What `zoo sample` can ask of a plugin, one line each: its labels, samplers and trajectory."""
    lines = []
    if class_conditional(plugin):
        lines.append(f"class-conditional: labels 0-{plugin.num_classes - 1} (zoo sample --per-class / --labels / -n)")
    elif plugin.family == "generator":
        lines.append("unconditional: zoo sample -n")
    if isinstance(plugin, Sampler):
        scheduler, steps, guidance = plugin.sampling_defaults(None, None, None)
        lines.append(
            f"noise schedulers: {', '.join(plugin.noise_schedulers)} (default {scheduler}, {steps} steps, "
            f"guidance {guidance:g})"
        )
        lines.append(f"trajectory: {'yes (zoo sample --trajectory)' if has_trajectory(plugin) else 'no'}")
    return lines
