"""Weights as .safetensors files: tensors + metadata enough to rebuild the model from the file alone.

Nothing here unpickles: a safetensors file is a JSON header and raw tensor bytes, safe to open
whoever made it. Every write goes to a temporary file first and is renamed into place, so a crash
never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from zoo.errors import WeightsError
from zoo.files import atomic_write, write_text_atomic
from zoo.version import VERSION

FORMAT = "zoo.weights.v1"


def save_tensors(
    path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> None:
    # safetensors refuses shared or strided storage; state dicts can hold views.
    flat = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(flat, tmp, metadata=dict(metadata or {})))


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, or a WeightsError that says what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"{path} is not a readable .safetensors file ({exc}); it may be truncated or another format "
            "- re-export it with `zoo export`"
        ) from None


def model_metadata(plugin_name: str, plugin_version: str, family: str, config: dict, **extra: str) -> dict[str, str]:
    return {
        "format": FORMAT,
        "plugin": plugin_name,
        "plugin_version": plugin_version,
        "family": family,
        "zoo_version": VERSION,
        "config": json.dumps(config),
        **extra,
    }


# A model folder in the layout of the Hugging Face ecosystem: the config beside the weights.
FOLDER_WEIGHTS, FOLDER_CONFIG = "model.safetensors", "config.json"


def save_model_folder(folder: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """folder/model.safetensors (tensors + zoo metadata) and folder/config.json (the same metadata,
    with the model config as JSON, for people and tools that read config.json)."""
    readable = {key: value for key, value in metadata.items() if key != "config"}
    readable["config"] = json.loads(metadata["config"])
    save_tensors(folder / FOLDER_WEIGHTS, tensors, metadata)
    write_text_atomic(folder / FOLDER_CONFIG, json.dumps(readable, indent=2) + "\n")


def resolve_weights(path: str | Path) -> tuple[Path, Path | None]:
    """(the .safetensors file, the folder's config.json or None) for a file written by `zoo export`,
    a model folder, or a Hugging Face Hub id ("owner/name") when the hub can be reached."""
    path = Path(path).expanduser()
    if path.is_dir():
        weights, config = path / FOLDER_WEIGHTS, path / FOLDER_CONFIG
        if not weights.is_file():
            raise WeightsError(
                f"{path} is a folder without {FOLDER_WEIGHTS}; pass a model folder from `zoo export RUN --out FOLDER`"
            )
        return weights, config if config.is_file() else None
    if path.exists() or not _looks_like_hub_id(str(path)):
        return path, None
    return resolve_weights(_download(str(path)))


def _looks_like_hub_id(text: str) -> bool:
    import re

    return re.fullmatch(r"[\w.-]+/[\w.-]+", text) is not None and not text.endswith(".safetensors")


def _download(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=[FOLDER_WEIGHTS, FOLDER_CONFIG]))
    except Exception as exc:  # no network, no such repo, no access: all mean the same to the user
        raise WeightsError(
            f"'{repo_id}' is neither a local file or folder nor a model that could be downloaded from the Hugging Face "
            f"Hub ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); check the path, "
            "or download "
            "the model folder and pass its path"
        ) from None


def read_model_file(
    path: str | Path, expected_plugin: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str], dict]:
    """(tensors, metadata, config dict) of a file written by `zoo export`, or of a model folder (whose
    config.json, which people may edit, then gives the config)."""
    path, config_json = resolve_weights(path)
    tensors, metadata = load_tensors(path)
    written = metadata.get("format", "")
    if written.startswith("zoo.weights.") and written != FORMAT:
        raise WeightsError(
            f"{path} is in format {written}, written by zoo {metadata.get('zoo_version', '?')}; this zoo "
            f"({VERSION}) reads {FORMAT}. Install the zoo version that wrote it, or re-export the run with this one"
        )
    if written != FORMAT or "plugin" not in metadata:
        raise WeightsError(f"{path} is a safetensors file but not one written by `zoo export` (no zoo metadata)")
    if config_json is not None:
        try:
            metadata = {**metadata, "config": json.dumps(json.loads(config_json.read_text())["config"])}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise WeightsError(
                f"{config_json} is not a zoo model config ({type(exc).__name__}: {exc}); "
                "re-export the model or fix the file"
            ) from None
    if expected_plugin is not None and metadata["plugin"] != expected_plugin:
        raise WeightsError(
            f"{path} holds weights for plugin '{metadata['plugin']}', not '{expected_plugin}'; "
            f"use `zoo sample {metadata['plugin']} ...` or leave the plugin name out"
        )
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError):
        raise WeightsError(f"{path} has damaged zoo metadata (config); re-export it with `zoo export`") from None
    return tensors, metadata, config


def version_note(metadata: Mapping[str, str], installed_plugin_version: str) -> str | None:
    """Why a file may not fit this installation, or None: the plugin's major version (minor, before
    1.0) differs from the installed one."""
    written = metadata.get("plugin_version", "")

    def series(version: str) -> tuple[str, ...]:
        parts = version.split(".")
        return tuple(parts[:2]) if parts[0] == "0" else tuple(parts[:1])

    if not written or series(written) == series(installed_plugin_version):
        return None
    return (
        f"it was written by {metadata.get('plugin', '?')} {written} (zoo {metadata.get('zoo_version', '?')}) and "
        f"{installed_plugin_version} is installed; install the matching version, or re-export it from its run "
        "with this one"
    )


def split_state(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix.`, with the prefix removed: one module's state dict."""
    start = prefix + "."
    return {name[len(start) :]: t for name, t in tensors.items() if name.startswith(start)}


def load_module_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:3]
        raise WeightsError(f"{what} does not fit the model built from its config: {' '.join(first)}") from None
