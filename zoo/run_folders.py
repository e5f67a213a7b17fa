"""Where `zoo run` puts a run when the user names no --out: runs/NAME, then runs/NAME-2, runs/NAME-3, ...

A new run never lands on an old one, so running the same command twice just works (as in most
training tools); `--resume` without --out continues the newest run of that plugin.
"""

from __future__ import annotations

import re
from pathlib import Path

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
