"""Training checkpoints in a run folder: <run>/checkpoints/step_000500/ holding

    modules.safetensors   every module's weights, "<module>.<parameter>"
    ema.safetensors       EMA copies of the plugin's ema_modules (when train.ema_decay > 0)
    optimizers.pt         optimizer, scheduler and loss-scaler states (plain tensors and numbers:
                          read back with torch.load(weights_only=True), which runs no pickled code)
    state.json            the step and the zoo version (the plugin is in the run's config.yaml)

A checkpoint is written into a hidden folder and renamed into place when complete, so an
interrupted save never leaves a half checkpoint that resume would pick up. Weights that are not
all finite are never written (the engine stops first), and a checkpoint that fails to load (a disk
error, a file cut short) is skipped by resume and export in favour of the newest one that loads.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import ZooError, ZooWarning
from zoo.sharing.weights import load_tensors, save_tensors, split_state
from zoo.version import VERSION

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
    lr_schedulers: Mapping[str, Any],
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
            "schedulers": {n: s.state_dict() for n, s in lr_schedulers.items()},  # the key files already use
            "scaler": scaler.state_dict() if scaler is not None else None,
        },
        partial / "optimizers.pt",
    )
    (partial / "state.json").write_text(json.dumps({"step": step, "zoo_version": VERSION}))
    if final.exists():  # the same step saved again (e.g. a resumed run stopped at once)
        shutil.rmtree(final)
    os.replace(partial, final)
    if keep:
        # Only checkpoints up to this one count: any newer one is left from before a resume (one that
        # did not load), and counting it could rotate out the good checkpoint just written.
        for old in [c for c in all_checkpoints(run_dir) if step_of(c) <= step][:-keep]:
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


class CheckpointError(ZooError):
    """A checkpoint that cannot be used: unreadable, cut short, or holding non-finite weights."""


def first_nonfinite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or None."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return name
    return None


def first_nonfinite_module(modules: Mapping[str, nn.Module]) -> str | None:
    """ "module.parameter" of the first non-finite weight or buffer of `modules`, or None."""
    return first_nonfinite(_flatten(modules))


def load(checkpoint: Path) -> Checkpoint:
    """A checkpoint's contents, or a CheckpointError naming it and what is wrong with it."""
    try:
        loaded = _load(checkpoint)
    except (OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError, pickle.UnpicklingError, ZooError) as exc:
        # The first sentence is enough (torch's zip errors run to a paragraph).
        reason = str(exc).split(";")[0] if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}".split(". ")[0]
        raise CheckpointError(f"checkpoint {checkpoint} cannot be read ({reason})") from None
    for kind, states in (("weights", loaded.modules), ("EMA weights", loaded.ema)):
        bad = first_nonfinite({f"{m}.{k}": t for m, state in states.items() for k, t in state.items()})
        if bad:
            raise CheckpointError(f"checkpoint {checkpoint} holds non-finite {kind} ({bad})")
    return loaded


def newest_loadable(run_dir: Path) -> tuple[Path, Checkpoint]:
    """The newest checkpoint of a run that loads and is finite; each newer one that does not is
    skipped with a one-line warning. A CheckpointError when none is usable."""
    found = all_checkpoints(run_dir)
    if not found:
        latest(run_dir)  # raises the "no checkpoint" error
    problems = []
    for path in reversed(found):
        try:
            return path, load(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            warnings.warn(f"skipping {exc}", ZooWarning, stacklevel=2)
    raise CheckpointError(
        f"none of the {len(found)} checkpoints in {run_dir} can be used (newest: {problems[0]}); start a new run "
        f"with another --out, or delete {folder(run_dir)} to start over in this folder"
    )


def _load(checkpoint: Path) -> Checkpoint:
    state = json.loads((checkpoint / "state.json").read_text())
    tensors, _ = load_tensors(checkpoint / "modules.safetensors")
    names = {key.split(".", 1)[0] for key in tensors}
    ema: dict[str, dict[str, torch.Tensor]] = {}
    if (checkpoint / "ema.safetensors").is_file():
        ema_tensors, _ = load_tensors(checkpoint / "ema.safetensors")
        ema = {n: split_state(ema_tensors, n) for n in {k.split(".", 1)[0] for k in ema_tensors}}
    optimizers = torch.load(checkpoint / "optimizers.pt", map_location="cpu", weights_only=True)
    return Checkpoint(
        step=int(state["step"]),
        modules={n: split_state(tensors, n) for n in names},
        ema=ema,
        optimizers=optimizers,
    )


# Learning-rate entries of a param group: the rate itself and what schedulers derive it from.
LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")
# Hyperparameters no scheduler moves, taken from the config as they are. (Betas and momentum are
# not: OneCycleLR cycles them, so the saved values are the right ones.)
FIXED_KEYS = ("weight_decay", "eps")


def restore_optimizers(
    saved: Mapping[str, Any], optimizers: Mapping, lr_schedulers: Mapping, scaler: Any = None
) -> None:
    """Optimizer, scheduler and loss-scaler state as saved, with the learning rate, weight decay and
    eps of the config the run resumes with: `--resume --set optim.lr=...` (say, a lower rate after a
    blow-up) takes effect. A changed learning rate scales the saved one, so a schedule continues at
    the new base rate; an unchanged config restores the state exactly."""
    ratios = {}
    for name, opt in optimizers.items():
        wanted = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
        opt.load_state_dict(saved["optimizers"][name])
        for group, config in zip(opt.param_groups, wanted):
            base = "initial_lr" if "initial_lr" in group else "lr"
            ratio = config[base] / group[base] if group[base] else 1.0
            for key in LR_KEYS:
                if key in group:
                    group[key] = group[key] * ratio
            for key in FIXED_KEYS:
                if key in config:
                    group[key] = config[key]
            ratios[id(group)] = ratio
    for name, scheduler in lr_schedulers.items():
        scheduler.load_state_dict(saved["schedulers"][name])
        groups = scheduler.optimizer.param_groups
        scheduler.base_lrs = [lr * ratios.get(id(g), 1.0) for lr, g in zip(scheduler.base_lrs, groups)]
    if scaler is not None and saved.get("scaler") is not None:
        scaler.load_state_dict(saved["scaler"])
