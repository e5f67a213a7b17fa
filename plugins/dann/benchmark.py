"""`zoo benchmark dann --study`: the HW2 DANN table over seeds, and t-SNE pictures of its features.

For each seed: trains source_only once (it does not depend on the target), then dann and target_only
for each target domain present under the data root, and scores every model on the target's validation
split. Each cell is the mean and sample standard deviation over the seeds; a last row says whether
DANN beats source-only by more than that spread. Runs live in runs/benchmark/dann-DATE-DEVICE/ and are
reused when finished, resumed when interrupted, so a study that was stopped loses no finished work. A
missing domain is reported as such, never as a number.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from zoo.bench.common import copy_file, environment, stamp, trained_model, write_report
from zoo.data.digits import available_domains, load_domain
from zoo.errors import ZooError
from zoo.metrics.accuracy import domain_accuracy
from zoo.viz import adaptation_tsne

SOURCE = "mnistm"
TARGETS = ("svhn", "usps", "mnist")
DISPLAY = {"mnistm": "MNIST-M", "svhn": "SVHN", "usps": "USPS", "mnist": "MNIST"}
ROWS = (("source_only", "Trained on source"), ("dann", "Adaptation (DANN)"), ("target_only", "Trained on target"))
SEEDS = (0, 1, 2)  # --quick: the first only
QUICK_STEPS = 300


def run(data_root: str | None, out_dir: Path, quick: bool = False, steps: int | None = None) -> list[Path]:
    if not data_root:
        raise ZooError(
            f"zoo benchmark dann needs --data-root: the folder holding {SOURCE} and the targets "
            f"({', '.join(TARGETS)}) in the HW2 layout, e.g. hw2_data/digits"
        )
    root = Path(data_root).expanduser().resolve()
    found = set(available_domains(root))
    name = stamp("dann", quick)
    runs = Path("runs/benchmark") / name
    common = [f"data.root={root}", f"data.source={SOURCE}", "train.sample_every=0"]
    steps = steps or (QUICK_STEPS if quick else None)
    if steps:
        common.append(f"train.steps={steps}")
    seeds = SEEDS[:1] if quick else SEEDS

    cells: dict[str, dict[str, dict]] = {mode: {} for mode, _ in ROWS}
    pictures, walls, config, settings = [], [], None, {}
    started = time.perf_counter()
    trained: dict[str, tuple] = {}  # run folder name -> (adapter, wall): source_only serves every target
    for target in TARGETS:
        if SOURCE not in found or target not in found:
            missing = SOURCE if SOURCE not in found else target
            for mode, _ in ROWS:
                cells[mode][target] = {"accuracy": None, "note": f"not available: no data ({missing} not under {root})"}
            continue
        target_val = None
        for mode, _ in ROWS:
            by_seed = {}
            for seed in seeds:
                folder = f"source_only-seed{seed}" if mode == "source_only" else f"{mode}-{target}-seed{seed}"
                if folder not in trained:
                    scenario = [*common, f"data.target={target}", f"mode={mode}", f"train.seed={seed}"]
                    trained[folder] = trained_model("dann", runs / folder, scenario, target_settings(mode, target))
                    walls.append(trained[folder][1])
                adapter, _ = trained[folder]
                config = config or adapter.config
                if mode == "dann":
                    settings[target] = adapter.config.dann.to_dict()
                target_val = target_val or _val_split(adapter, root, target)
                by_seed[seed] = round(domain_accuracy(adapter, target_val), 4)
                print(
                    f"{mode:>11} {SOURCE} -> {target}, seed {seed}: {by_seed[seed]:.2%} on {len(target_val)} "
                    f"{target} val images",
                    flush=True,
                )
                if mode == "dann" and seed == seeds[0]:
                    source_val = _val_split(adapter, root, SOURCE)
                    for path in adaptation_tsne(adapter, source_val, target_val, runs / f"tsne-{target}"):
                        pictures.append(
                            copy_file(path, out_dir / f"{name}-tsne-{target}-{path.stem.split('_')[1]}.png")
                        )
            cells[mode][target] = {**spread(list(by_seed.values())), "seeds": by_seed, "count": len(target_val)}

    report = {
        "benchmark": "dann",
        **environment(),
        "data_root": str(root),
        "source": SOURCE,
        "seeds": list(seeds),
        "steps": config.train.steps if config else steps,
        "batch_size": config.train.batch_size if config else None,
        "dann": settings,
        "wall_s": round(time.perf_counter() - started, 1),
        "train_wall_s": round(sum(w for w in walls if w), 1),
        "runs_trained": len(walls),
        "cells": cells,
    }
    return [*write_report(out_dir, name, report, _markdown(report)), *pictures]


def target_settings(mode: str, target: str) -> list[Path]:
    """DANN's config file for this target (plugins/dann/TARGET.yaml), where there is one."""
    path = Path(__file__).with_name(f"{target}.yaml")
    return [path] if mode == "dann" and path.is_file() else []


def spread(values: list[float]) -> dict:
    """{accuracy: the mean, std: the sample standard deviation (None for one value)}."""
    return {
        "accuracy": round(statistics.mean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else None,
    }


def adapts(dann: dict, source_only: dict) -> str:
    """Whether DANN's mean beats source-only's by more than the two spreads together."""
    if dann.get("accuracy") is None or source_only.get("accuracy") is None:
        return ""
    gap = dann["accuracy"] - source_only["accuracy"]
    noise = (dann["std"] or 0.0) + (source_only["std"] or 0.0)
    verdict = "yes" if gap > noise else ("no" if gap < -noise else "within the spread")
    return f"{gap * 100:+.1f} points: {verdict}"


def _val_split(adapter, root: Path, name: str):
    return load_domain(str(root), name, "val", adapter.config.data.image_size)


def _cell(cell: dict) -> str:
    if cell.get("accuracy") is None:
        return cell.get("note", "")
    return f"{cell['accuracy']:.1%}" + (f" ± {cell['std']:.1%}" if cell.get("std") is not None else "")


def _markdown(report: dict) -> str:
    cells, seeds = report["cells"], report["seeds"]
    header = "| | " + " | ".join(f"{DISPLAY[SOURCE]} -> {DISPLAY[t]}" for t in TARGETS) + " |"
    lines = [header, "|---" * (len(TARGETS) + 1) + "|"]
    for mode, title in ROWS:
        lines.append(f"| {title} | " + " | ".join(_cell(cells[mode].get(t, {})) for t in TARGETS) + " |")
    lines.append(
        "| DANN above source-only? | "
        + " | ".join(adapts(cells["dann"].get(t, {}), cells["source_only"].get(t, {})) for t in TARGETS)
        + " |"
    )
    per_seed = [
        f"| {title}, seed {seed} | "
        + " | ".join(
            f"{cells[mode][t]['seeds'][seed]:.1%}" if cells[mode].get(t, {}).get("seeds") else "" for t in TARGETS
        )
        + " |"
        for mode, title in ROWS
        for seed in seeds
    ]
    settings = "; ".join(
        f"{DISPLAY[t]}: " + ", ".join(f"{k}={v}" for k, v in d.items()) for t, d in report["dann"].items()
    )
    return (
        f"# DANN: the HW2 table ({report['date']}, {report['device']})\n\n" + "\n".join(lines) + "\n\n"
        f"Accuracy on each target's validation split (`val.csv`): the mean ± the sample standard deviation over "
        f"seeds {', '.join(map(str, seeds))}. Every model trained {report['steps']} steps at batch "
        f"{report['batch_size']} "
        f"from `{report['data_root']}`. DANN settings (plugins/dann/TARGET.yaml where there is one) {settings}. "
        "Source-only is one model per seed, scored on every "
        'target. "Above source-only" says yes when the gap in means is larger than the two standard deviations '
        "together.\n\n"
        f"Whole study: {report['wall_s'] / 60:.1f} min on {report['device']}; training "
        f"{report['train_wall_s'] / 60:.1f} min "
        f"over {report['runs_trained']} runs (a run reused from an earlier call counts with its own time).\n\n"
        "Each seed:\n\n"
        + header.replace("| |", "| run |", 1)
        + "\n"
        + "|---" * (len(TARGETS) + 1)
        + "|\n"
        + "\n".join(per_seed)
        + "\n"
    )
