"""What every benchmark shares: a trained model that survives interruptions, the environment a figure
was measured in, and where results go.

Benchmark runs live in run folders and are reused when finished and resumed when not, so a benchmark
that was stopped loses no finished work and reports each model's own training time.
"""

from __future__ import annotations

import datetime
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo.config import PLUGIN_KEY, read_yaml
from zoo.data.embedded import EMBEDDED_VERSION
from zoo.errors import ZooError
from zoo.files import write_text_atomic
from zoo.interfaces import Plugin
from zoo.registry import Registry
from zoo.runs import folders
from zoo.sharing.exports import export_run, load_model
from zoo.training import checkpoints
from zoo.training.engine import start_run


def device_name() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_label() -> str:
    """What a result was measured on, for reports: the GPU's name, or the CPU and its thread count."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment() -> dict:
    """The facts a report states beside its figures: date, device (label and kind), CPU, threads, versions."""
    return {
        "date": datetime.date.today().isoformat(),
        "device": device_label(),
        "device_kind": device_name(),
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def stamp(benchmark: str, quick: bool) -> str:
    """File and folder stem of one benchmark's results: NAME-DATE-DEVICE[-quick]."""
    return f"{benchmark}-{datetime.date.today()}-{device_name()}{'-quick' if quick else ''}"


# Keys that say how long a run goes, and when it logs, previews and saves: not what it learns. A
# finished run is reused by a request that differs only in these (train.steps: a longer request resumes it).
BOOKKEEPING_KEYS = {
    f"train.{key}"
    for key in (
        "steps",
        "checkpoint_every",
        "keep_checkpoints",
        "sample_every",
        "log_every",
        "time_limit_min",
        "log_with",
    )
}


def learned_settings(config: dict, prefix: str = "") -> dict:
    """A resolved config as dotted keys, without the bookkeeping keys and the plugin's name: what the
    model learns from."""

    flat = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(learned_settings(value, f"{dotted}."))
        elif dotted not in BOOKKEEPING_KEYS and dotted != PLUGIN_KEY:
            flat[dotted] = value
    return flat


def keyed_folder(parent: Path, stem: str, config: dict, version: str) -> Path:
    """parent/STEM-DATA-KEY: a benchmark run's folder, named by the data it trains on (`embedded`,
    `face-train`, ...) and a key of everything it learns from and the plugin's version, so that a run
    is only ever reused by a request for the same model."""
    import hashlib

    root = config.get("data", {}).get("root", "")
    data = "-".join(Path(root).parts[-2:]) if root else "embedded"
    # The embedded digits are code, not files: a run on an older drawing of them is another model.
    learned_from = [learned_settings(config), version] + ([] if root else [EMBEDDED_VERSION])
    key = hashlib.sha256(json.dumps(learned_from, sort_keys=True, default=str).encode())
    return parent / f"{stem}-{data}-{key.hexdigest()[:8]}"


def _on_embedded_digits(config: dict) -> bool:
    return not config.get("data", {}).get("root", "")


def _check_same_run(run_dir: Path, config: dict) -> None:
    """A run folder that exists holds the run asked for, or nothing is trained or scored in it."""

    saved_file = run_dir / folders.CONFIG
    if not saved_file.is_file():
        return
    if _on_embedded_digits(config):
        drawn = folders.drawing_learned(run_dir)
        if drawn != EMBEDDED_VERSION:
            drawn = "an unrecorded drawing" if drawn == folders.UNRECORDED else f"drawing {drawn}"
            raise ZooError(
                f"{run_dir} holds a run on {drawn} of the embedded digits, and this zoo draws them as "
                f"version {EMBEDDED_VERSION}: it is not the model to score; move it away, or give this one "
                "another folder"
            )
    saved, wanted = learned_settings(read_yaml(saved_file)), learned_settings(config)
    differ = sorted(key for key in saved.keys() | wanted.keys() if saved.get(key) != wanted.get(key))
    if differ:
        key = differ[0]
        raise ZooError(
            f"{run_dir} holds a run with another config ({key}: {saved.get(key)!r} there, "
            f"{wanted.get(key)!r} asked for): it is not the model to score; move it away, or give "
            "this one another folder"
        )


def trained_model(
    plugin_name: str, run_dir: Path, overrides: Sequence[str], files: Sequence[str | Path] = ()
) -> tuple[Plugin, float | None]:
    """The plugin trained in run_dir with config `files` and `overrides` (trained now, resumed, or
    loaded as it was), with its EMA weights where it keeps any, on the best device; and its training
    wall time in seconds. A run already in run_dir is only used if it learned from the same config."""

    registry = Registry.discover()
    spec = registry.get(plugin_name)
    config = spec.config(spec.read_configs(files), overrides)
    settings = config.to_dict()
    _check_same_run(run_dir, settings)  # start_run records the drawing of a new run on the embedded digits
    model_file, timing = run_dir / "model.safetensors", run_dir / "train_wall_s.json"
    done = (
        checkpoints.all_checkpoints(run_dir) and checkpoints.step_of(checkpoints.latest(run_dir)) >= config.train.steps
    )
    if not done:
        started = time.perf_counter()
        trainer, _ = start_run(spec, config, run_dir)  # resumes a run that stopped short
        if trainer.step < config.train.steps:  # stopped early (Ctrl-C, time limit): never score a half-trained model
            raise ZooError(
                f"{plugin_name} stopped at step {trainer.step} of {config.train.steps} in {run_dir}; "
                "run the benchmark again to resume it"
            )
        # Kept beside the run, so a benchmark that reuses it still reports how long it took.
        timing.write_text(json.dumps(time.perf_counter() - started + _earlier_wall(timing)))
    if not done or not model_file.is_file():
        export_run(run_dir, model_file, registry)
    _, plugin, _ = load_model(model_file, registry, expected_plugin=plugin_name, overrides=overrides)
    return plugin.to(device_name()), _earlier_wall(timing) or None


def _earlier_wall(timing: Path) -> float:
    return json.loads(timing.read_text()) if timing.is_file() else 0.0


def write_report(out_dir: Path, name: str, report: dict, markdown: str) -> list[Path]:
    """NAME.json and NAME.md in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    write_text_atomic(json_path, json.dumps(report, indent=2) + "\n")
    write_text_atomic(md_path, markdown)
    return [json_path, md_path]


def copy_file(path: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(Path(path).read_bytes())
    return to
