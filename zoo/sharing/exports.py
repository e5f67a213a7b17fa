"""From a run folder to a shareable weights file, and from a weights file back to a working plugin."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from zoo.errors import WeightsError, ZooError, ZooWarning
from zoo.interfaces import Adapter, Classifier, Plugin
from zoo.registry import PluginSpec, Registry
from zoo.runs.folders import read_run_config
from zoo.sharing.model_card import write_card
from zoo.sharing.weights import (
    load_module_state,
    model_metadata,
    read_model_file,
    save_model_folder,
    save_tensors,
    split_state,
    version_note,
)
from zoo.training import checkpoints


def export_run(
    run_dir: Path, out: Path, registry: Registry, step: int | None = None, use_ema: bool = True
) -> dict[str, str]:
    """Write the inference weights of a run's checkpoint (the newest, or `step`) to `out`: a
    .safetensors file, or for any other name a model folder (config.json + model.safetensors, and a
    model card, README.md, with its sample grid)."""
    spec, saved = read_run_config(run_dir, registry)
    config = spec.config(files=[saved])
    have = ", ".join(p.name for p in checkpoints.all_checkpoints(run_dir)) or "none"
    if step is None:  # the newest that loads with finite weights; newer ones are skipped with a warning
        _, state = checkpoints.newest_loadable(run_dir)
    else:
        checkpoint_dir = checkpoints.folder(run_dir) / f"{checkpoints.PREFIX}{step:06d}"
        if not checkpoint_dir.is_dir():
            raise ZooError(f"no checkpoint for step {step} in {run_dir}; checkpoints there: {have}")
        try:
            state = checkpoints.load(checkpoint_dir)
        except checkpoints.CheckpointError as exc:
            raise checkpoints.CheckpointError(
                f"{exc}; export another with --step (checkpoints there: {have})"
            ) from None
    from_ema = use_ema and all(name in state.ema for name in spec.plugin_class.export_modules)
    source = state.ema if from_ema else state.modules
    tensors = {f"{name}.{key}": t for name in spec.plugin_class.export_modules for key, t in source[name].items()}
    metadata = model_metadata(
        spec.name,
        spec.version,
        spec.family,
        config.to_dict(),
        step=str(state.step),
        ema=str(from_ema).lower(),
        **spec.plugin_class.io_metadata(config),
    )
    if out.suffix == ".safetensors":
        save_tensors(out, tensors, metadata)
    else:  # a model folder: config.json + model.safetensors, the layout Hugging Face tools expect
        if out.is_file():
            raise ZooError(f"--out {out} is a file; give a .safetensors file name or a folder for a model folder")
        save_model_folder(out, tensors, metadata)

        write_card(out, run_dir, spec, config, metadata, parameters=sum(t.numel() for t in tensors.values()))
    return metadata


def load_model(
    path: Path, registry: Registry, expected_plugin: str | None = None, overrides: Sequence[str] = ()
) -> tuple[PluginSpec, Plugin, dict[str, str]]:
    """Rebuild a plugin from a file written by `zoo export`: its config and weights are in the file.
    `overrides` (KEY=VALUE) change what does not touch the weights, e.g. data.root."""
    tensors, metadata, config_dict = read_model_file(path, expected_plugin)
    if metadata["plugin"] not in registry:
        raise WeightsError(
            f"{path} holds a '{metadata['plugin']}' model ({metadata.get('plugin_version', '?')}), and no such "
            f"plugin is installed: install it (`zoo list` shows what is), then try again"
        )
    spec = registry.get(metadata["plugin"])
    note = version_note(metadata, spec.version)
    try:
        config = spec.config(files=[config_dict])
    except ZooError as exc:
        raise WeightsError(
            f"{path} was written by zoo {metadata.get('zoo_version', '?')} ({spec.name} "
            f"{metadata.get('plugin_version', '?')}) "
            f"and its config does not fit this version: {exc}" + (f"; {note}" if note else "")
        ) from None
    if overrides:
        config = spec.config(files=[config_dict], overrides=overrides)
    bad = checkpoints.first_nonfinite(tensors)
    if bad:
        raise WeightsError(
            f"{path} holds non-finite weights ({bad}): it would only make blank images; "
            "export an earlier checkpoint of its run with `zoo export RUN --step N`"
        )
    plugin = spec.build(config)
    try:
        for name in plugin.export_modules:
            load_module_state(plugin.modules[name], split_state(tensors, name), f"{path} ({name})")
    except WeightsError as exc:
        raise WeightsError(f"{exc}; {note}" if note else str(exc)) from None
    if note:
        warnings.warn(f"{path} loaded, but {note}", ZooWarning, stacklevel=2)
    return spec, plugin, metadata


def load_classifier(
    weights: str | Path, registry: Registry, name: str | None = None, overrides=(), adapter: bool = False
):
    """(spec, plugin, metadata) of an exported Classifier (or, with adapter=True, an Adapter), or a
    ZooError saying which family the file holds instead."""

    spec, plugin, metadata = load_model(Path(weights), registry, expected_plugin=name, overrides=overrides)
    wanted, example = (Adapter, "dann") if adapter else (Classifier, "digit_classifier or dann")
    if not isinstance(plugin, wanted):
        raise ZooError(
            f"'{spec.name}' is a {spec.family} plugin; this command needs a {wanted.family} (e.g. {example})"
        )
    return spec, plugin, metadata
