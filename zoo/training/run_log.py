"""What a run logs: metrics.jsonl (one strict-JSON line per log window) and the non-finite watch.

metrics.jsonl is read by people, `jq`, pandas and the benchmarks, so it stays valid JSON whatever
training does: a NaN or infinite value is written as null, never as the bare `NaN` that
json.dumps would emit.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from zoo.files import write_text_atomic
from zoo.runs import folders

# What MetricLog itself adds to a row, beside the values the plugin logged: its step, speed and clock.
LOOP_KEYS = ("step", "images_per_s", "data_share", "elapsed_s")


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of a run's metrics.jsonl (what MetricLog wrote), oldest first."""
    return [json.loads(line) for line in (Path(run_dir) / folders.METRICS).read_text().splitlines() if line]


def _json_number(value: float) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def scalars(logs: dict) -> dict[str, torch.Tensor]:
    """What a training_step returned, as float tensors (kept on their device: no sync), once per step
    for both the log and the non-finite watch."""
    return {
        k: v.detach().float().reshape(()) if torch.is_tensor(v) else torch.tensor(float(v)) for k, v in logs.items()
    }


def _parsed(line: str) -> dict | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:  # a line cut short when a run was killed mid-write
        return None


class MetricLog:
    """Averages what training_step returns over the log window; one JSON line per window. Every line
    carries elapsed_s, the run's training wall time so far (continued across resumes)."""

    def __init__(self, path: Path, enabled: bool, truncate_after: int):
        self.path, self.enabled = path, enabled
        self.elapsed_before, self.started = 0.0, time.perf_counter()
        self._reset()
        if enabled and path.exists():
            # Lines past the checkpoint we resume from describe steps that will be run again.
            rows = [_parsed(line) for line in path.read_text().splitlines() if line]
            kept = [row for row in rows if row is not None and row.get("step", 0) <= truncate_after]
            write_text_atomic(path, "".join(json.dumps(row, allow_nan=False) + "\n" for row in kept))
            self.elapsed_before = max((row.get("elapsed_s") or 0.0 for row in kept), default=0.0)

    def elapsed(self) -> float:
        """Training wall time of the whole run so far, in seconds."""
        return round(self.elapsed_before + time.perf_counter() - self.started, 2)

    def _reset(self) -> None:
        # Values stay tensors until flush: converting each step would force a GPU sync per step.
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.steps = 0
        self.data_seconds = 0.0  # time the loop waited for batches (added by the trainer)
        self.window_start = time.perf_counter()

    def add(self, values: dict[str, torch.Tensor]) -> None:
        """One step's `scalars`."""
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        self.steps += 1

    def _write(self, row: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(row, allow_nan=False) + "\n")

    def record(self, step: int, values: dict[str, float]) -> None:
        """A line of its own, e.g. validation scores."""
        self._write({"step": step, **{k: _json_number(v) for k, v in values.items()}, "elapsed_s": self.elapsed()})

    def flush(self, step: int, images_per_step: int) -> dict[str, float | None]:
        elapsed = time.perf_counter() - self.window_start
        row = {"step": step, **{k: _json_number(float(v) / self.counts[k]) for k, v in self.sums.items()}}
        row["images_per_s"] = round(images_per_step * self.steps / max(elapsed, 1e-9), 2)
        row["data_share"] = round(self.data_seconds / max(elapsed, 1e-9), 4)  # of the wall time, previews included
        row["elapsed_s"] = self.elapsed()
        self._write(row)
        self._reset()
        return row


class NonFiniteWatch:
    """Remembers the first step at which a logged training value was NaN or infinite.

    The bookkeeping stays on the training device (a few tiny ops per step, no sync); the loop asks
    `first()` only where it must decide: at log lines and before every checkpoint.
    """

    def __init__(self):
        self.first_step: dict[str, torch.Tensor] = {}  # per key: the first bad step, or -1
        self.first_value: dict[str, torch.Tensor] = {}  # per key: its value there

    def observe(self, step: int, values: dict[str, torch.Tensor]) -> None:
        """One step's `scalars`."""
        for key, value in values.items():
            seen = self.first_step.get(key)
            if seen is None:
                seen = self.first_step[key] = torch.full((), -1, dtype=torch.int64, device=value.device)
                self.first_value[key] = torch.zeros((), device=value.device)
            new = ~torch.isfinite(value) & (seen < 0)
            self.first_step[key] = torch.where(new, step, seen)
            self.first_value[key] = torch.where(new, value, self.first_value[key])

    def first(self) -> tuple[int, str, float] | None:
        """(step, key, value) of the earliest non-finite value seen, or None."""
        found = [(int(s), key, float(self.first_value[key])) for key, s in self.first_step.items() if int(s) >= 0]
        return min(found) if found else None
