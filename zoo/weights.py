"""Weights as .safetensors files: tensors + metadata enough to rebuild the model from the file alone.

Nothing here unpickles: a safetensors file is a JSON header and raw tensor bytes, safe to open
whoever made it. Every write goes to a temporary file first and is renamed into place, so a crash
never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

import zoo
from zoo.errors import WeightsError

FORMAT = "zoo.weights.v1"


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path to path (atomic on POSIX within a filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_tensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> None:
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
        "zoo_version": zoo.__version__,
        "config": json.dumps(config),
        **extra,
    }


def read_model_file(path: str | Path, expected_plugin: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str], dict]:
    """(tensors, metadata, config dict) of a file written by `zoo export`."""
    tensors, metadata = load_tensors(path)
    if metadata.get("format") != FORMAT or "plugin" not in metadata:
        raise WeightsError(f"{path} is a safetensors file but not one written by `zoo export` (no zoo metadata)")
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
