"""What `zoo sample` does with a Generator or a Sampler, in one place.

The CLI, `zoo benchmark` and zoo.testing.check_plugin all draw images through `draw` and
`write_samples`, so a plugin that passes check_plugin goes through the same calls as `zoo sample`
with `--out`, `--grid`, `--labels`, `--per-class`, `-n` and `--trajectory`.

Class-conditional plugins (every Sampler, and Generators with num_classes) take labels, and their
files are named LABEL_RANK.png (3_001.png, 3_002.png, 7_001.png); an image depends only on (seed,
label, rank), so the same name is the same image whether it came from --per-class, --labels or -n.
Unconditional generators write 0000.png, 0001.png, ... (the HW2 names).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.errors import ConfigError
from zoo.interfaces import Generator, Plugin, Sampler, class_conditional, has_trajectory
from zoo.noise import class_labels, label_ranks
from zoo.viz import hw2_names, save_class_grid, save_grid, save_images, save_strip

GRID_IMAGES = 64  # an unconditional grid shows the first 64 images (8 x 8)
GRID_PER_CLASS = 10  # a class-conditional grid: one row per class, 10 columns
HW2_PER_CLASS = 100  # what --out writes per class when no count is given (the HW2 convention)
HW2_COUNT = 1000  # ... and how many images an unconditional --out writes


@dataclass
class Request:
    """What to draw and where to write it: `zoo sample`'s options."""

    out_dir: str | Path | None = None
    grid: str | Path | None = None
    trajectory: str | Path | None = None
    n: int | None = None
    per_class: int | None = None
    labels: list[int] | None = None
    seed: int = 0
    scheduler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    batch_size: int = 250


def parse_labels(text: str) -> list[int]:
    """`--labels 3,3,7` -> [3, 3, 7]."""
    try:
        labels = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ConfigError(f"--labels takes class numbers separated by commas, e.g. 3,3,7; got '{text}'") from None
    if not labels:
        raise ConfigError("--labels needs at least one class number, e.g. --labels 3,3,7")
    return labels


def settings(
    plugin: Plugin, scheduler: str | None = None, steps: int | None = None, guidance: float | None = None
) -> dict:
    """A Sampler's (scheduler, steps, guidance), checked against what the plugin offers and with its
    defaults filled in; {} for a Generator (which refuses the three)."""
    if not isinstance(plugin, Sampler):
        given = [
            flag
            for flag, value in (("--scheduler", scheduler), ("--steps", steps), ("--guidance", guidance))
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"{', '.join(given)} only apply to samplers; '{plugin_name(plugin)}' is a generator (one pass per "
                "image)"
            )
        return {}
    # The plugin's sampling_defaults is the one judge of its scheduler, steps and guidance (its
    # interface promises a ConfigError naming what it allows).
    return dict(zip(("scheduler", "steps", "guidance"), plugin.sampling_defaults(scheduler, steps, guidance)))


def draw(
    plugin: Plugin,
    n: int,
    seed: int,
    labels: torch.Tensor | None = None,
    chosen: dict | None = None,
    batch_size: int = 250,
    progress: bool = False,
) -> torch.Tensor:
    """n images from a Generator or Sampler through its family interface: (n, C, H, W) in [-1, 1]."""
    if isinstance(plugin, Generator):
        images = plugin.generate(n, seed, batch_size=batch_size, labels=labels, progress=progress)
    elif isinstance(plugin, Sampler):
        labels = class_labels(n, plugin.num_classes, labels)
        images = plugin.sample(labels, seed, **(chosen or {}), batch_size=batch_size, progress=progress)
    else:
        raise ConfigError(
            f"'{plugin_name(plugin)}' is a {plugin.family} plugin; drawing images needs a generator or a sampler"
        )
    if not torch.is_tensor(images) or images.shape[0] != n:
        raise ConfigError(
            f"'{plugin_name(plugin)}' returned {_shape(images)} for {n} images; its family interface "
            "promises one (C, H, W) tensor per image (zoo.testing.check_plugin checks this)"
        )
    return images


def conditional_names(labels: torch.Tensor) -> list[str]:
    """LABEL_RANK.png for each label: [3, 3, 7] -> 3_001.png, 3_002.png, 7_001.png."""
    ranks = label_ranks(labels.tolist())
    width = max(3, len(str(max(ranks, default=0) + 1)))
    return [f"{label}_{rank + 1:0{width}d}.png" for label, rank in zip(labels.tolist(), ranks)]


def requested_labels(num_classes: int, request: Request) -> torch.Tensor:
    """The labels `--out` writes: from --labels, --per-class K, or -n N (0, 1, ..., 9, 0, ...)."""
    given = [
        flag
        for flag, value in (("-n", request.n), ("--per-class", request.per_class), ("--labels", request.labels))
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigError(f"give one of -n, --per-class and --labels, not {' and '.join(given)}")
    if request.labels is not None:
        return class_labels(len(request.labels), num_classes, request.labels)
    if request.n is not None:
        return class_labels(_at_least_one("-n", request.n), num_classes)
    per_class = HW2_PER_CLASS if request.per_class is None else _at_least_one("--per-class", request.per_class)
    return torch.arange(num_classes).repeat_interleave(per_class)


@dataclass(frozen=True)
class CheckedRequest:
    """A Request checked against its plugin, with everything it leaves open resolved: what
    write_samples takes, as it is."""

    request: Request
    settings: dict  # a Sampler's scheduler, steps, guidance; {} for a Generator
    labels: torch.Tensor | None  # a class-conditional --out's labels, in file order
    count: int  # an unconditional --out's (or grid's) image count


def check_request(plugin: Plugin, request: Request) -> CheckedRequest:
    """Every option checked against the plugin, once, before anything is drawn."""
    name = plugin_name(plugin)
    if not (request.out_dir or request.grid or request.trajectory):
        raise ConfigError("say what to write: --out FOLDER, --grid FILE.png and/or --trajectory FILE.png")
    if request.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {request.batch_size}")
    if not class_conditional(plugin):
        given = [
            flag
            for flag, value in (("--per-class", request.per_class), ("--labels", request.labels))
            if value is not None
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} need a class-conditional plugin; '{name}' is unconditional (use -n)")
    if request.trajectory and not has_trajectory(plugin):
        what = "draws each image in one pass" if isinstance(plugin, Generator) else "does not record its trajectory"
        raise ConfigError(f"'{name}' {what}, so there is no --trajectory to show; drop it")
    chosen = settings(plugin, request.scheduler, request.steps, request.guidance)
    if class_conditional(plugin):
        labels = requested_labels(plugin.num_classes, request) if request.out_dir else torch.empty(0, dtype=torch.long)
        return CheckedRequest(request, chosen, labels, len(labels))
    if request.n is not None:
        count = _at_least_one("-n", request.n)
    else:
        count = HW2_COUNT if request.out_dir else GRID_IMAGES
    return CheckedRequest(request, chosen, None, count)


def write_samples(
    plugin: Plugin, checked: CheckedRequest, echo: Callable[[str], None] = print, progress: bool = True
) -> list[Path]:
    """`zoo sample`: draw what a checked request (check_request) asks for and write it; returns the
    files written."""
    request, chosen = checked.request, checked.settings
    written: list[Path] = []
    started = time.perf_counter()
    if class_conditional(plugin):
        written += _write_conditional(plugin, checked, echo, progress)
    elif request.out_dir or request.grid:
        written += _write_unconditional(plugin, checked, echo, progress)
    if written:
        how = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in chosen.items())
        echo(f"sampled in {time.perf_counter() - started:.1f}s" + (f" ({how})" if how else ""))
    if request.trajectory:
        label = int(request.labels[0]) if request.labels else 0
        frames, captions = plugin.trajectory(label, request.seed, **chosen)
        written.append(save_strip(frames, captions, request.trajectory))
        echo(f"wrote {request.trajectory}: the first '{label}' from noise to image")
    return written


def _write_conditional(plugin, checked: CheckedRequest, echo, progress) -> list[Path]:
    request, chosen, wanted, classes = checked.request, checked.settings, checked.labels, plugin.num_classes
    grid = torch.arange(classes).repeat_interleave(GRID_PER_CLASS) if request.grid else torch.empty(0, dtype=torch.long)
    # One draw serves both: an image depends on (seed, label, rank) only, so each class is drawn as
    # many times as the larger request needs, and each request picks its images out by (label, rank).
    counts = torch.maximum(torch.bincount(wanted, minlength=classes), torch.bincount(grid, minlength=classes))
    union = torch.arange(classes).repeat_interleave(counts)
    images = draw(plugin, len(union), request.seed, union, chosen, request.batch_size, progress)
    first = torch.cumsum(counts, 0) - counts  # where each class starts in `union`

    def pick(labels: torch.Tensor) -> torch.Tensor:
        return images[first[labels] + torch.tensor(label_ranks(labels.tolist()), dtype=torch.long)]

    written = []
    if request.out_dir:
        written += save_images(pick(wanted), request.out_dir, conditional_names(wanted))
        echo(
            f"wrote {len(wanted)} images to {request.out_dir} ({conditional_names(wanted)[0]} ... "
            f"{conditional_names(wanted)[-1]})"
        )
    if request.grid:
        written.append(save_class_grid(pick(grid), classes, request.grid, columns=GRID_PER_CLASS))
        echo(f"wrote {request.grid}: rows = classes 0-{classes - 1}, columns = different noises")
    return written


def _write_unconditional(plugin, checked: CheckedRequest, echo, progress) -> list[Path]:
    request, count = checked.request, checked.count
    on_grid = min(count, GRID_IMAGES) if request.grid else 0
    # Image i depends on (seed, i) only: the grid is the first images of the same draw.
    images = draw(
        plugin, count if request.out_dir else on_grid, request.seed, batch_size=request.batch_size, progress=progress
    )
    written = []
    if request.out_dir:
        written += save_images(images, request.out_dir, hw2_names(count))
        echo(f"wrote {count} images to {request.out_dir}")
    if request.grid:
        written.append(save_grid(images[:on_grid], request.grid, nrow=8))
        echo(f"wrote {request.grid}: the first {on_grid} images")
    return written


def plugin_name(plugin: Plugin) -> str:
    return getattr(plugin, "registered_name", None) or type(plugin).__name__


def _at_least_one(flag: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{flag} must be at least 1, got {value}")
    return value


def _shape(images) -> str:
    return f"shape {tuple(images.shape)}" if torch.is_tensor(images) else f"a {type(images).__name__}"
