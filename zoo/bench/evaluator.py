"""The digit evaluator the benchmarks score generated digits with: the built-in digit_classifier,
trained once per data folder and length and cached as a benchmark run (zoo.bench.common)."""

from __future__ import annotations

from pathlib import Path

from zoo.bench.common import keyed_folder, trained_model
from zoo.data.digits import labelled_digits
from zoo.interfaces import Classifier
from zoo.metrics.accuracy import domain_accuracy
from zoo.registry import Registry

EVALUATOR = "digit_classifier"
EVALUATOR_STEPS = {"quick": 150, "full": 1500}  # the evaluator's training length in a quick / a full benchmark


def trained_evaluator(data: str, steps: int, runs: Path, backbone: str | None = None) -> tuple[Classifier, dict]:
    """The evaluator trained on the labelled digits `data` (one HW2 domain folder; "" for the embedded
    digits) for `steps`, cached in `runs`, with its default network or `backbone` (model.backbone, e.g. a
    timm name, for a second opinion from a different architecture); and {file, backbone, steps, data (its
    held-out split), real_accuracy (on that split), train_wall_s}."""

    overrides = [
        f"data.root={data}",
        f"train.steps={steps}",
        "train.sample_every=0",
        *([f"model.backbone={backbone}"] if backbone else []),
    ]
    spec = Registry.discover().get(EVALUATOR)
    run_dir = keyed_folder(runs, f"evaluator-{steps}steps", spec.config([], overrides).to_dict(), spec.version)
    evaluator, wall = trained_model(EVALUATOR, run_dir, overrides)
    held_out = labelled_digits(data, "val", evaluator.config.data.image_size)
    return evaluator, {
        "file": str(run_dir / "model.safetensors"),
        "backbone": evaluator.config.model.backbone,
        "steps": steps,
        "data": held_out.describe(),
        "real_accuracy": domain_accuracy(evaluator, held_out),
        "train_wall_s": wall and round(wall, 1),
    }
