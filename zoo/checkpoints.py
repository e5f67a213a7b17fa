"""Training checkpoints in a run folder: <run>/checkpoints/step_000500/ holding

    modules.safetensors   every module's weights, "<module>.<parameter>"
    ema.safetensors       EMA copies of the plugin's ema_modules (when train.ema_decay > 0)
    optimizers.pt         optimizer, scheduler and loss-scaler states (plain tensors and numbers:
                          read back with torch.load(weights_only=True), which runs no pickled code)
    state.json            the step, the plugin, the zoo version

A checkpoint is written into a hidden folder and renamed into place when complete, so an
interrupted save never leaves a half checkpoint that resume would pick up.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

import zoo
from zoo.errors import ZooError
from zoo.weights import load_tensors, save_tensors, split_state

PREFIX = "step_"


@dataclass
class Checkpoint:
    step: int
    modules: dict[str, dict[str, torch.Tensor]]
    ema: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    optimizers: dict[str, Any] = field(default_factory=dict)


def folder(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _flatten(modules: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": t for name, m in modules.items() for key, t in m.state_dict().items()}


def save(
    run_dir: Path,
    step: int,
    modules: Mapping[str, nn.Module],
    ema: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
    scaler: Any = None,
    keep: int = 0,
) -> Path:
    root = folder(run_dir)
    final = root / f"{PREFIX}{step:06d}"
    partial = root / f".{final.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_tensors(partial / "modules.safetensors", _flatten(modules))
    if ema:
        save_tensors(partial / "ema.safetensors", _flatten(ema))
    torch.save(
        {
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
            "scaler": scaler.state_dict() if scaler is not None else None,
        },
        partial / "optimizers.pt",
    )
    (partial / "state.json").write_text(json.dumps({"step": step, "zoo_version": zoo.__version__}))
    if final.exists():  # the same step saved again (e.g. a resumed run stopped at once)
        shutil.rmtree(final)
    os.replace(partial, final)
    if keep:
        for old in all_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def all_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = folder(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=step_of)


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name[len(PREFIX) :])


def latest(run_dir: Path) -> Path:
    found = all_checkpoints(run_dir)
    if not found:
        raise ZooError(f"no checkpoint in '{run_dir}'; start a new run there (without --resume) or check the path")
    return found[-1]


def load(checkpoint: Path) -> Checkpoint:
    state = json.loads((checkpoint / "state.json").read_text())
    tensors, _ = load_tensors(checkpoint / "modules.safetensors")
    names = {key.split(".", 1)[0] for key in tensors}
    ema: dict[str, dict[str, torch.Tensor]] = {}
    if (checkpoint / "ema.safetensors").is_file():
        ema_tensors, _ = load_tensors(checkpoint / "ema.safetensors")
        ema = {n: split_state(ema_tensors, n) for n in {k.split(".", 1)[0] for k in ema_tensors}}
    optim_path = checkpoint / "optimizers.pt"
    optimizers = torch.load(optim_path, map_location="cpu", weights_only=True) if optim_path.is_file() else {}
    return Checkpoint(
        step=int(state["step"]),
        modules={n: split_state(tensors, n) for n in names},
        ema=ema,
        optimizers=optimizers,
    )


def restore_optimizers(saved: Mapping[str, Any], optimizers: Mapping, schedulers: Mapping, scaler: Any = None) -> None:
    for name, opt in optimizers.items():
        opt.load_state_dict(saved["optimizers"][name])
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(saved["schedulers"][name])
    if scaler is not None and saved.get("scaler") is not None:
        scaler.load_state_dict(saved["scaler"])
