"""A run folder: what it holds, where `zoo run` puts it, who holds it, what it says about itself.

Where: with no --out, runs/NAME, then runs/NAME-2, runs/NAME-3, ... A new run never lands on an old
one, so running the same command twice just works (as in most training tools); `--resume` without
--out continues the newest run of that plugin. While a run trains, it holds its folder (`held`), so
that no second run writes into it at the same time.

Status: status.json holds the run's state (running, finished, stopped, non-finite, failed), its step,
the training wall time, the device and a one-line message. A run that is not holding its folder but
whose status still says "running" ended without a word (killed, or the machine went down): it reads
as failed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from zoo.config import PLUGIN_KEY, read_yaml
from zoo.data.embedded import EMBEDDED_VERSION
from zoo.errors import ZooError, ZooWarning
from zoo.files import write_text_atomic
from zoo.registry import PluginSpec, Registry
from zoo.training import checkpoints

RUNS = Path("runs")
# What a run folder holds, by name: the one place these names are spelled.
CONFIG = "config.yaml"  # the resolved config it trains with, `plugin:` first
METRICS = "metrics.jsonl"  # zoo.training.run_log
SAMPLES = "samples"  # previews, step_000500.png ...
SCORES = "scores.json"  # what a benchmark measured of it
STATUS = "status.json"  # write_status / read_status
LOCK = ".lock"  # held
DRAWING = "embedded_version.txt"  # a run on the embedded digits: the drawing it learned (note_drawing)
UNRECORDED = "unrecorded"  # drawing_learned of a run from before zoo wrote DRAWING


def _numbered(name: str, root: Path) -> list[tuple[int, Path]]:
    """(number, folder) of every runs/NAME (1) and runs/NAME-K (K) folder, lowest first."""
    if not root.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(name)}(?:-(\d+))?")
    found = []
    for path in root.iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1) or 1), path))
    return sorted(found)


def claim_fresh(name: str, root: Path = RUNS) -> Path:
    """Create and return the first of runs/NAME, runs/NAME-2, ... that does not exist yet.

    mkdir(exist_ok=False) claims it, so two runs started at once never share a folder."""
    taken = {number for number, _ in _numbered(name, root)}
    number = 1
    while True:
        if number not in taken:
            path = root / (name if number == 1 else f"{name}-{number}")
            try:
                path.mkdir(parents=True)
                return path
            except FileExistsError:  # someone else took it (or a file sits there): try the next one
                pass
        number += 1


def newest_with_checkpoint(name: str, root: Path = RUNS) -> Path:
    """The highest-numbered runs/NAME[-K] folder that holds a checkpoint: what --resume continues."""
    for _, path in reversed(_numbered(name, root)):
        if checkpoints.all_checkpoints(path):
            return path
    raise ZooError(
        f"no {name} run with a checkpoint under {root}/ to resume; start one with `zoo run {name}`, "
        "or name the run folder with --out"
    )


_held_here: set[Path] = set()  # folders this process holds, which in_use answers for without a second lock


@contextmanager
def held(run_dir: Path):
    """Hold a run folder for the length of a run (start_run takes it, once): a second `zoo run` into it
    refuses while this one lives. An OS lock (flock) on RUN/.lock, so the kernel lets go when the process dies, even by
    kill -9: a lock left by a killed run never blocks the next one. (No lock where fcntl is missing.)"""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    with open(run_dir / LOCK, "a+") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise ZooError(
                    f"{run_dir} is in use by a running `zoo run` ({holder}); wait for it to finish or stop it, "
                    "or choose another --out"
                ) from None
            handle.truncate(0)
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
            handle.flush()
        _held_here.add(key)
        try:
            yield
        finally:
            _held_here.discard(key)


def in_use(run_dir: Path) -> bool:
    """Whether a live `zoo run` holds the folder (see `held`)."""
    run_dir = Path(run_dir)
    if run_dir.resolve() in _held_here:
        return True
    if fcntl is None or not (run_dir / LOCK).is_file():
        return False
    with open(run_dir / LOCK) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def process_state():
    """Accelerate's process state, made before the Trainer's Accelerator (which then shares it). The
    CPU flag is read as AcceleratorState reads it: without it, torchrun on CPUs looks like one process."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def claim_shared(name: str) -> Path:
    """A fresh runs/NAME[-K], claimed by the main process and shared with the others under
    `accelerate launch`, so that every process writes into the same folder."""
    from accelerate.utils import broadcast_object_list

    state = process_state()
    chosen = [str(claim_fresh(name)) if state.is_main_process else None]
    if state.num_processes > 1:
        broadcast_object_list(chosen)
    return Path(chosen[0])


def run_folder_and_config(spec, registry, files: list, overrides, out: str | None, resume: bool):
    """Where `zoo run` trains and with which config: --out, or a fresh runs/NAME[-K]; with --resume
    the run's saved config under the new files and overrides, after checking it is the same plugin."""
    config = spec.config(files, overrides)  # a typo in --set or --config is the first thing to hear about
    if resume:
        run_dir = Path(out) if out else newest_with_checkpoint(spec.name)
        run_spec, saved = read_run_config(run_dir, registry)
        if run_spec.name != spec.name:
            raise ZooError(f"the run in {run_dir} is a '{run_spec.name}' run, not '{spec.name}'")
        return run_dir, spec.config([saved, *files], overrides)
    if out:
        run_dir = Path(out)
        if checkpoints.all_checkpoints(run_dir):
            raise ZooError(
                f"{run_dir} already holds a run (checkpoint {checkpoints.latest(run_dir).name}); "
                "add --resume to continue it, or choose another --out"
            )
        return run_dir, config
    return claim_shared(spec.name), config


STATES = ("running", "finished", "stopped", "non-finite", "failed")


def write_status(run_dir: Path, state: str, **fields) -> None:
    assert state in STATES, state
    fields = {"status": state, **fields, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomic(Path(run_dir) / STATUS, json.dumps(fields, indent=2) + "\n")


def read_status(run_dir: Path) -> dict:
    """The saved status.json (empty when the run predates it or it is unreadable), with "running"
    corrected to "failed" when no process holds the folder any more."""
    try:
        status = json.loads((Path(run_dir) / STATUS).read_text())
    except (OSError, json.JSONDecodeError):
        status = {}
    if in_use(run_dir):
        return {**status, "status": "running"}
    if status.get("status") == "running":
        return {**status, "status": "failed", "message": "the process ended without saying why (killed?)"}
    return status


def read_run_config(run_dir: Path, registry: Registry) -> tuple[PluginSpec, dict]:
    """The plugin spec and the saved config.yaml of a run folder (reads them; runs nothing)."""
    config_file = Path(run_dir) / CONFIG
    if not config_file.is_file():
        raise ZooError(f"'{run_dir}' is not a run folder (no config.yaml); pass the --out folder of a `zoo run`")
    saved = read_yaml(config_file)
    if PLUGIN_KEY not in saved:
        raise ZooError(f"{config_file} does not say which plugin made it (no '{PLUGIN_KEY}:' key)")
    return registry.get(saved[PLUGIN_KEY]), saved


def drawing_learned(run_dir: Path) -> str:
    """Which drawing of the embedded digits (zoo.data.embedded.EMBEDDED_VERSION) a run on them learned;
    UNRECORDED for a run from before zoo recorded it."""
    drawing_file = Path(run_dir) / DRAWING
    return drawing_file.read_text().strip() if drawing_file.is_file() else UNRECORDED


def note_drawing(run_dir: Path, data, resume: bool) -> None:
    """For a run on the embedded digits (no data.root), from the trainer's main process: a new run
    records the drawing it learns from, and resuming one that learned another drawing warns, since it
    would go on training on other images than it started on. The embedded digits are code, not files,
    so nothing else in the folder would tell."""
    if data.get("root"):
        return
    if not resume:
        write_text_atomic(Path(run_dir) / DRAWING, EMBEDDED_VERSION + "\n")
        return
    learned = drawing_learned(run_dir)
    if learned != EMBEDDED_VERSION:
        learned = "an older drawing" if learned == UNRECORDED else f"drawing {learned}"
        warnings.warn(
            f"{run_dir} may have learned {learned} of the embedded digits ({DRAWING}), and this zoo draws "
            f"them as version {EMBEDDED_VERSION} (zoo.data.embedded): resuming would train it on other images "
            "than it started on; to train on the current drawing alone, start a fresh run without --resume",
            ZooWarning,
            stacklevel=2,
        )
