"""zoo from Python: the engine and the weights files of `zoo run`, `zoo export` and `zoo sample`, in
calls a notebook can make. `import zoo` gives these names (zoo.train, zoo.load, ...).

    import zoo

    run = zoo.train("dcgan", train__steps=500)                  # the run folder, as `zoo run` leaves it
    model = zoo.load(zoo.export(run, "dcgan.safetensors"))      # a Generator, ready for inference
    images = model.generate(16, seed=0)                          # (16, 3, 32, 32) floats in [-1, 1]
    zoo.to_pil(images)[0].save("first.png"); zoo.save_grid(images, "grid.png")

What comes back from a loaded model, by family (all tensors on the CPU, images in [-1, 1]):
    Generator  generate(n, seed, labels=None) -> (n, C, H, W); class-conditional ones (num_classes > 0) take labels (n,)
    Sampler    sample(labels, seed, scheduler=None, steps=None, guidance=None) -> (n, C, H, W), one image per label
    Classifier predict(images) -> (n,) class indices; embed(images) -> (n, d) features
    Adapter    a Classifier that learned from labelled source and unlabelled target images
`to_pil` (a list of PIL images) and `grid` (one PIL image) turn such images into pictures;
`save_grid(images, path)` writes the grid as a PNG. Bad input raises zoo.errors.ZooError (ConfigError,
PluginError, WeightsError, DataError) with the same one-line message the command line prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from zoo.registry import Registry
from zoo.runs import folders
from zoo.sharing.exports import export_run, load_model
from zoo.training.engine import start_run
from zoo.viz import grid, save_grid, to_pil

__all__ = ["train", "export", "load", "to_pil", "grid", "save_grid"]

ConfigArgument = str | os.PathLike | Mapping | Sequence


def train(
    name: str,
    config: ConfigArgument | None = None,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    overrides: Mapping[str, Any] | None = None,
    **keys: Any,
) -> Path:
    """Train plugin `name` with the engine of `zoo run`; returns the run folder.

    config: a YAML file, the name of a config the plugin ships ("faces-cpu"), a dict of config keys,
        or a list of these, applied in order (`zoo run --config`).
    out: the run folder (default: a fresh runs/NAME[-K]); with resume=True, the run to continue
        (default: the newest runs/NAME[-K] with a checkpoint).
    overrides: {"train.steps": 100, ...}, as `--set train.steps=100`; keyword arguments say the
        same with "__" for the dots: train__steps=100. Values are Python values (True, [16, 32]).
    """

    registry = Registry.discover()
    spec = registry.get(name)
    if config is None:
        files = []
    elif isinstance(config, (str, os.PathLike, Mapping)):
        files = [config]
    else:
        files = list(config)
    settings = {**(overrides or {}), **{key.replace("__", "."): value for key, value in keys.items()}}
    sets = [f"{key}={_as_text(value)}" for key, value in settings.items()]
    run_dir, _, _ = fit(spec, registry, files, sets, None if out is None else str(out), resume)
    return run_dir


def fit(spec, registry, config_files: Sequence, overrides: Sequence[str], out: str | None, resume: bool):
    """(run folder, trainer, last checkpoint): what `zoo run` does. config_files are paths, shipped
    config names or already parsed dicts; overrides are KEY=VALUE strings."""

    files = spec.read_configs(config_files)
    run_dir, config = folders.run_folder_and_config(spec, registry, files, overrides, out, resume)
    trainer, checkpoint = start_run(spec, config, run_dir, resume)
    return run_dir, trainer, checkpoint


def export(run: str | os.PathLike, out: str | os.PathLike, *, step: int | None = None, ema: bool = True) -> Path:
    """Write a run's inference weights, as `zoo export`: `out` ending in .safetensors is one file,
    any other name a model folder (config.json, model.safetensors, a model card). Returns `out`."""

    export_run(Path(run), Path(out), Registry.discover(), step=step, use_ema=ema)
    return Path(out)


def load(weights: str | os.PathLike, device: str | torch.device | None = None):
    """The plugin in a `zoo export` file, a model folder or a Hugging Face Hub id ("owner/name"),
    with its weights, in eval mode, on `device` (default: cuda when there is one). Its family's
    methods (module docstring) are what to call; `.metadata` holds what the file says of itself."""

    _, plugin, metadata = load_model(Path(weights), Registry.discover())
    for module in plugin.modules.values():
        module.eval()
    plugin.metadata = metadata
    return plugin.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _as_text(value: Any) -> str:
    """A Python value as `--set` reads it: strings and paths verbatim, the rest as JSON (which is YAML)."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    return json.dumps(value)
