"""`zoo benchmark dann`: the HW2 DANN table and its t-SNE pictures, measured.

Trains source_only once (it does not depend on the target), then dann and target_only for each target
domain present under the data root, and scores every model on the target's validation split. Runs
live in runs/benchmark/dann/ and are reused when finished, resumed when interrupted, so a benchmark
that was stopped loses no finished work. A missing domain is reported as such, never as a number.
"""

from __future__ import annotations

import time
from pathlib import Path

from zoo.bench.common import copy_file, environment, stamp, trained_model, write_report
from zoo.data.digits import available_domains
from zoo.errors import ZooError

SOURCE = "mnistm"
TARGETS = ("svhn", "usps", "mnist")
DISPLAY = {"mnistm": "MNIST-M", "svhn": "SVHN", "usps": "USPS", "mnist": "MNIST"}
ROWS = (("source_only", "Trained on source"), ("dann", "Adaptation (DANN)"), ("target_only", "Trained on target"))
QUICK_STEPS = 300


def run(data_root: str | None, out_dir: Path, quick: bool = False, steps: int | None = None) -> list[Path]:
    from zoo.metrics.accuracy import domain_accuracy
    from zoo.viz import adaptation_tsne

    if not data_root:
        raise ZooError(f"zoo benchmark dann needs --data-root: the folder holding {SOURCE} and the targets "
                       f"({', '.join(TARGETS)}) in the HW2 layout, e.g. hw2_data/digits")
    root = Path(data_root).expanduser().resolve()
    found = set(available_domains(root))
    name = stamp("dann", quick)
    runs = Path("runs/benchmark") / name
    common = [f"data.root={root}", f"data.source={SOURCE}", "train.sample_every=0"]
    steps = steps or (QUICK_STEPS if quick else None)
    if steps:
        common.append(f"train.steps={steps}")

    cells: dict[str, dict[str, dict]] = {mode: {} for mode, _ in ROWS}
    pictures = []
    started = time.perf_counter()
    source_only = None
    for target in TARGETS:
        if SOURCE not in found or target not in found:
            missing = SOURCE if SOURCE not in found else target
            for mode, _ in ROWS:
                cells[mode][target] = {"accuracy": None, "note": f"not available: no data ({missing} not under {root})"}
            continue
        for mode, _ in ROWS:
            scenario = [*common, f"data.target={target}", f"mode={mode}"]
            if mode == "source_only":
                if source_only is None:
                    source_only = trained_model("dann", runs / "source_only", scenario)
                adapter, wall = source_only
            else:
                adapter, wall = trained_model("dann", runs / f"{mode}-{target}", scenario)
            target_val = _val_split(adapter, root, target)
            accuracy = domain_accuracy(adapter, target_val)
            cells[mode][target] = {"accuracy": round(accuracy, 4), "count": len(target_val), "train_wall_s": wall and round(wall, 1)}
            print(f"{mode:>11} {SOURCE} -> {target}: {accuracy:.2%} on {len(target_val)} {target} val images", flush=True)
            if mode == "dann":
                folder = runs / f"tsne-{target}"
                source_val = _val_split(adapter, root, SOURCE)
                for path in adaptation_tsne(adapter, source_val, target_val, folder):
                    pictures.append(copy_file(path, out_dir / f"{name}-tsne-{target}-{path.stem.split('_')[1]}.png"))

    steps = steps or (source_only[0].config.train.steps if source_only else None)
    report = {
        "benchmark": "dann", **environment(), "data_root": str(root), "source": SOURCE, "steps": steps,
        "wall_s": round(time.perf_counter() - started, 1), "cells": cells,
    }
    return [*write_report(out_dir, name, report, _markdown(report)), *pictures]


def _val_split(adapter, root: Path, name: str):
    from zoo.data.digits import load_domain

    return load_domain(str(root), name, "val", adapter.config.data.image_size)


def _markdown(report: dict) -> str:
    header = "| | " + " | ".join(f"{DISPLAY[SOURCE]} -> {DISPLAY[t]}" for t in TARGETS) + " |"
    lines = [header, "|---" * (len(TARGETS) + 1) + "|"]
    for mode, title in ROWS:
        row = []
        for target in TARGETS:
            cell = report["cells"][mode].get(target, {})
            row.append(f"{cell['accuracy']:.1%}" if cell.get("accuracy") is not None else cell.get("note", ""))
        lines.append(f"| {title} | " + " | ".join(row) + " |")
    walls = [c["train_wall_s"] for m in report["cells"].values() for c in m.values() if c.get("train_wall_s")]
    return (
        f"# DANN: the HW2 table ({report['date']}, {report['device']})\n\n" + "\n".join(lines) + "\n\n"
        f"Accuracy on each target's validation split (`val.csv`); every model trained {report['steps']} steps, "
        f"batch 128, from `{report['data_root']}` with seed 0. Source-only is one model scored on every target.\n"
        f"Whole benchmark: {report['wall_s'] / 60:.1f} min on {report['device']}; "
        f"training {sum(walls) / 60:.1f} min over {len(walls)} runs (runs reused from an earlier call count with their own time).\n"
    )
