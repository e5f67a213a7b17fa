"""Where `zoo run` puts a run when the user names no --out: runs/NAME, then runs/NAME-2, runs/NAME-3, ...

A new run never lands on an old one, so running the same command twice just works (as in most
training tools); `--resume` without --out continues the newest run of that plugin. While a run
trains, it holds its folder (`held`), so that no second run writes into it at the same time.
"""

from __future__ import annotations

import os
import re
import socket
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from zoo import checkpoints
from zoo.errors import ZooError

RUNS = Path("runs")


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


LOCK = ".lock"


_held_here: set[Path] = set()  # folders this process holds: holding one again is a no-op


@contextmanager
def held(run_dir: Path):
    """Hold a run folder for the length of a run: a second `zoo run` into it refuses while this one
    lives. An OS lock (flock) on RUN/.lock, so the kernel lets go when the process dies, even by
    kill -9: a lock left by a killed run never blocks the next one. (No lock where fcntl is missing.)"""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _held_here:
        yield
        return
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
