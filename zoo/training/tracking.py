"""Experiment trackers (`train.log_with`) through Accelerate's own integration: TensorBoard, W&B,
MLflow, Aim. They receive what metrics.jsonl receives (the training scalars, the evaluation scores)
and the preview grids, and keep their files inside the run folder:

    RUN/tensorboard/   `tensorboard --logdir runs/` shows every run by its folder name
    RUN/wandb/         wandb's local files (project zoo-PLUGIN, run named after the folder)
    RUN/mlruns/        MLflow artifacts (experiment zoo-PLUGIN)
    RUN/aim/           the Aim repository

metrics.jsonl stays the record zoo itself reads (`zoo runs`, `zoo plot`, the benchmarks); a tracker
is a window onto it, and a run without one loses nothing.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError, ZooWarning

TRACKERS = ("tensorboard", "wandb", "mlflow", "aim")  # each also the name of its pip package
CHOICES = ("none", *TRACKERS, "all")
# Trackers whose default set-up talks to a server, and how a user makes them log locally instead.
SERVERS = {
    "wandb": ("api.wandb.ai", 443, "set WANDB_MODE=offline to log into the run folder (upload later with `wandb sync`)")
}


def installed(name: str) -> bool:
    from accelerate.utils import is_aim_available, is_mlflow_available, is_tensorboard_available, is_wandb_available

    return {
        "tensorboard": is_tensorboard_available,
        "wandb": is_wandb_available,
        "mlflow": is_mlflow_available,
        "aim": is_aim_available,
    }[name]()


def reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def network_problem(name: str) -> str | None:
    """One line on why `name` cannot log from here, when it needs a server that does not answer."""
    if name not in SERVERS or os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return None
    host, port, fix = SERVERS[name]
    if reachable(host, port):
        return None
    return (
        f"train.log_with={name} needs a network connection to {host}, and there is none from here: {fix}, "
        "or use tensorboard"
    )


def chosen(log_with: str) -> list[str]:
    """The trackers `train.log_with` names, checked: a ConfigError names a missing package or network.
    `all` takes every installed one that can log from here, and says in one line which it leaves out."""
    if log_with not in CHOICES:
        raise ConfigError(f"train.log_with must be one of {' | '.join(CHOICES)}, got '{log_with}'")
    if log_with == "none":
        return []
    if log_with != "all":
        if not installed(log_with):
            raise ConfigError(
                f"train.log_with={log_with} needs the {log_with} package: "
                f"pip install {log_with} (or set train.log_with=none)"
            )
        if problem := network_problem(log_with):
            raise ConfigError(problem)
        return [log_with]
    names = [name for name in TRACKERS if installed(name)]
    if not names:
        raise ConfigError(
            "train.log_with=all found no tracker installed: pip install tensorboard (or wandb, mlflow, aim)"
        )
    for name in list(names):
        if problem := network_problem(name):
            warnings.warn(f"{problem}; logging without it", ZooWarning, stacklevel=2)
            names.remove(name)
    return names


def build(names: list[str], run_dir: Path, plugin: str) -> list:
    """Accelerate tracker objects for `names`, each writing inside `run_dir`."""
    from accelerate.tracking import AimTracker, MLflowTracker, TensorBoardTracker, WandBTracker

    run_dir = Path(run_dir)
    made = {
        "tensorboard": lambda: TensorBoardTracker("tensorboard", run_dir),
        "wandb": lambda: WandBTracker(f"zoo-{plugin}", name=run_dir.name, dir=str(run_dir)),
        "mlflow": lambda: MLflowTracker(f"zoo-{plugin}", logging_dir=str(run_dir / "mlruns"), run_name=run_dir.name),
        "aim": lambda: AimTracker(run_dir.name, logging_dir=str(run_dir / "aim")),
    }
    return [made[name]() for name in names]


def flat_config(config: dict, prefix: str = "") -> dict:
    """{'train.steps': 1000, ...}: what trackers take as hyperparameters (lists and None as text)."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, name + "."))
        else:
            flat[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat


def start(accelerator, project: str, config: dict, config_text: str) -> None:
    """Start the trackers with the run's config: as hyperparameters where the tracker keeps them
    (W&B, MLflow, Aim), as text in TensorBoard (whose add_hparams would list a second run per run)."""
    accelerator.init_trackers(project)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_text("config", "    " + config_text.replace("\n", "\n    "), global_step=0)
        else:
            tracker.store_init_configuration(flat_config(config))


def log_scalars(accelerator, values: dict, step: int) -> None:
    """A metrics.jsonl row (or evaluation scores) to every tracker; null (non-finite) values left out,
    and elapsed_s, since every tracker records time itself."""
    if accelerator.trackers:
        accelerator.log(
            {k: v for k, v in values.items() if k not in ("step", "elapsed_s") and v is not None}, step=step
        )


def log_grid(accelerator, name: str, pixels: np.ndarray, png: Path, step: int) -> None:
    """A preview grid ((H, W, C) uint8, also saved as `png`) to every tracker, each in its own form."""
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.log_images({name: pixels[None]}, step=step, dataformats="NHWC")
        elif tracker.name == "wandb":
            tracker.log_images({name: [pixels]}, step=step)
        elif tracker.name == "aim":
            tracker.log_images({name: (pixels, f"step {step}")}, step=step)
        elif tracker.name == "mlflow":
            tracker.log_artifact(str(png), artifact_path=name)


def finish(accelerator) -> None:
    """Close every tracker (flushing its files). Not accelerator.end_training(): that also ends the
    process group, which the command may still need."""
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []
