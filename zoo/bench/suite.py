"""`zoo benchmark`: every plugin measured the same way, from the `BenchmarkSpec` it declares.

For each plugin: train it (through the engine, in a run folder that is reused when finished and
resumed when not), then measure

- training throughput: images/s from the engine's own log, warm-up window left out;
- engine overhead: the plugin's `training_step` in a plain PyTorch loop (same model, optimizers, LR
  schedulers, EMA and data; no Accelerate, logging or checkpoints) against the engine's step time;
- sampling throughput: images/s of `generate` / `sample` / `predict`, and network evaluations per
  image (rows through the plugin's networks, counted by forward hooks, so guidance batches count);
- peak memory: each plugin runs in its own process, so its peak RSS (and CUDA peak) is its own;
- quality: the metrics its spec names (zoo.bench.quality.METRICS), each reported with how it was measured.

A plugin whose process fails is reported with its error and the others go on; a plugin without a
spec is listed as such. The rooms: plan.py (what to do), worker.py (one plugin, in its own process),
plain_loop.py (the reference loop), quality.py (the metrics), report.py (the markdown).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from zoo.bench.common import environment, stamp, write_report
from zoo.bench.evaluator import EVALUATOR, EVALUATOR_STEPS, trained_evaluator
from zoo.bench.plan import EVALUATOR_METRICS, Plan, plan
from zoo.bench.report import markdown, summary
from zoo.errors import ZooError
from zoo.registry import Registry


def run_suite(
    names: Sequence[str],
    data_root: str | None,
    quick: bool,
    steps: int | None,
    out_dir: Path,
    samples: int | None = None,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Benchmark `names` (every registered plugin when empty); write NAME.json and NAME.md to out_dir."""

    started = time.perf_counter()
    registry = Registry.discover()
    selected = list(names) or registry.names()
    specs = [registry.get(n) for n in selected]  # an unknown name fails here, before any training
    name = stamp("benchmark" if names else "benchmark-all", quick)
    runs = Path("runs/benchmark") / name
    rows, plans = {}, []
    for spec in specs:
        error = spec.load_error
        if error:
            rows[spec.name] = {"plugin": spec.name, "status": "failed to load", "error": error}
        elif spec.plugin_class.benchmark is None:
            rows[spec.name] = {"plugin": spec.name, "family": spec.family, "status": "no benchmark spec"}
        else:
            try:
                plans.append(plan(spec, data_root, quick, steps, samples, runs, out_dir, name))
            except ZooError as exc:  # e.g. its data is not under --data-root: the others still run
                rows[spec.name] = {"plugin": spec.name, "family": spec.family, "status": "failed", "error": str(exc)}
    evaluators = {}
    for p in plans:
        if EVALUATOR_METRICS & set(p.metrics) or (not p.metrics and p.family in ("generator", "sampler")):
            if p.data not in evaluators:
                echo(f"digit evaluator for {p.data or 'the embedded digits'} ({EVALUATOR})")
                evaluators[p.data] = trained_evaluator(
                    p.data, steps or EVALUATOR_STEPS["quick" if quick else "full"], runs
                )[1]
            p.evaluator = evaluators[p.data]
    for i, p in enumerate(plans, 1):
        echo(
            f"[{i}/{len(plans)}] {p.name} ({p.family}): {p.steps} steps on {p.data or 'the embedded digits'}, "
            f"{p.samples} outputs, {', '.join(p.metrics) or 'its digit metrics'}"
        )
        rows[p.name] = _run_in_own_process(p)
        row = rows[p.name]
        echo(
            f"      {p.name}: "
            + (f"{row['status']}: {row.get('error', '')}" if row["status"] != "ok" else summary(row))
        )
    report = {
        "suite": name,
        **environment(),
        "quick": quick,
        "data_root": str(data_root or ""),
        "wall_s": round(time.perf_counter() - started, 1),
        "evaluators": evaluators,
        "plugins": [rows[s.name] for s in specs],
    }
    paths = write_report(out_dir, name, report, markdown(report))
    return paths + [Path(r["grid"]) for r in report["plugins"] if r.get("grid")]


def _run_in_own_process(p: Plan) -> dict:
    """The worker's result; its progress bars and messages go straight to this terminal."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        worker = subprocess.Popen(
            [sys.executable, "-m", "zoo.bench.worker", json.dumps(dataclasses.asdict(p)), str(result)]
        )
        try:
            code = worker.wait()
        except KeyboardInterrupt:
            worker.wait()  # Ctrl-C reached the worker too: its training saves a checkpoint and stops
            raise ZooError(
                f"interrupted during {p.name}; finished work is kept in {Path(p.run_dir).parent}: "
                "run the same command again to go on from there"
            ) from None
        if result.is_file():
            return json.loads(result.read_text())
        return {
            "plugin": p.name,
            "family": p.family,
            "status": "failed",
            "error": f"its process ended with exit code {code}",
        }


def run_study(name: str, data_root: str | None, quick: bool, steps: int | None, out_dir: Path) -> list[Path]:
    """A plugin's deeper study (its class's `study`, "module:function"): the files it wrote."""
    import importlib

    registry = Registry.discover()
    target = registry.get(name).plugin_class.study
    if not target:
        with_study = [s.name for s in registry.specs() if not s.load_error and s.plugin_class.study]
        raise ZooError(
            f"'{name}' has no study (plugins with one: {', '.join(with_study)}); drop --study for its benchmark"
        )
    module, function = target.split(":")
    runner = getattr(importlib.import_module(module), function)
    return runner(data_root=data_root, out_dir=Path(out_dir), quick=quick, steps=steps)
