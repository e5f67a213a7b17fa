"""The table of runs that `zoo runs` prints: one row per run folder, from its status.json
(zoo.runs.folders), its config and its last logged metrics."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.config import PLUGIN_KEY, read_yaml
from zoo.runs import folders
from zoo.training import checkpoints
from zoo.training.run_log import LOOP_KEYS, read_metrics


def find_runs(root: Path) -> list[Path]:
    """Run folders (a config.yaml beside checkpoints/ or metrics.jsonl) under `root`, up to 3 levels down."""
    root = Path(root)
    configs = [
        root / folders.CONFIG,
        *(c for depth in ("*", "*/*", "*/*/*") for c in root.glob(f"{depth}/{folders.CONFIG}")),
    ]
    found = [
        c.parent
        for c in configs
        if c.is_file() and ((c.parent / folders.METRICS).is_file() or checkpoints.folder(c.parent).is_dir())
    ]
    return sorted(set(found))


def _last_rows(run_dir: Path) -> tuple[dict, dict]:
    """(the last training row, the latest value of every logged key) from metrics.jsonl."""
    try:
        rows = read_metrics(run_dir)
    except (OSError, ValueError):
        return {}, {}
    latest = {}
    for row in rows:
        latest.update({k: v for k, v in row.items() if v is not None})
    training = next((row for row in reversed(rows) if "images_per_s" in row), {})
    return training, latest


def run_row(run_dir: Path) -> dict:
    """One line of `zoo runs`: what the folder holds, as plain JSON values."""
    run_dir = Path(run_dir)
    try:
        config = read_yaml(run_dir / folders.CONFIG)
    except Exception:  # a config cut short or hand-edited badly: still list the run
        config = {}
    status = folders.read_status(run_dir)
    found = checkpoints.all_checkpoints(run_dir)
    training, latest = _last_rows(run_dir)
    done = max([status.get("step", 0), latest.get("step", 0), *(checkpoints.step_of(p) for p in found[-1:])])
    planned = config.get("train", {}).get("steps")
    state = status.get("status") or (
        "finished" if planned and found and checkpoints.step_of(found[-1]) >= planned else "stopped"
    )
    files = [run_dir / name for name in (folders.STATUS, folders.METRICS, folders.CONFIG)]
    return {
        "run": str(run_dir),
        "plugin": config.get(PLUGIN_KEY, "?"),
        "step": done,
        "steps": planned,
        "status": state,
        "message": status.get("message"),
        "metrics": {k: v for k, v in latest.items() if k not in LOOP_KEYS},
        "wall_s": status.get("elapsed_s", latest.get("elapsed_s")),
        "device": status.get("device"),
        "checkpoint": found[-1].name if found else None,
        "modified": max((os.path.getmtime(f) for f in files if f.exists()), default=0.0),
        "images_per_s": training.get("images_per_s"),
    }


def table(root: Path) -> list[dict]:
    """Every run under `root`, the most recently active first."""
    return sorted((run_row(run) for run in find_runs(root)), key=lambda row: row["modified"], reverse=True)
