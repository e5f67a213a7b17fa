"""What the commands share: help texts, and the small steps from arguments to objects."""

from __future__ import annotations

import json
from pathlib import Path

import click

WEIGHTS_HELP = "A file or model folder written by `zoo export` (or a Hugging Face Hub id, when online)."
CONFIG_HELP = (
    "A YAML config file, or the name of one the plugin ships (`zoo describe NAME` lists them), "
    "e.g. --config faces-cpu; repeatable, applied in order."
)
SET_HELP = "Override one config key, e.g. --set train.steps=2000 (repeatable)."


def registry():
    from zoo.registry import Registry

    return Registry.discover()


def device(name: str | None) -> str:
    """--device, or cuda when there is one."""
    import torch

    return name or ("cuda" if torch.cuda.is_available() else "cpu")


def load_classifier(weights: str, name: str | None = None, overrides=(), adapter: bool = False):
    from zoo.sharing.exports import load_classifier as load

    return load(weights, registry(), name, overrides, adapter)


def write_metric(result: dict, json_out: str | None, default: Path) -> None:
    from zoo.files import write_text_atomic

    path = Path(json_out) if json_out else default
    write_text_atomic(path, json.dumps(result, indent=2) + "\n")
    click.echo(f"wrote {path}")
