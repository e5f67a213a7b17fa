"""How readable are the main job's digits? Scores generators trained on the embedded digits.

    python benchmarks/main_job_digits.py runs/dcgan ["with EMA=runs/dcgan-2" dcgan.safetensors ...] [--samples 1000]

Each argument is a `zoo run` folder (its newest checkpoint, the EMA where the run kept one) or a
file from `zoo export`, optionally labelled for the table as LABEL=PATH. Each generator draws
--samples images with seed 0, read by zoo benchmark's digit evaluator for the embedded digits
(zoo.bench.evaluator.trained_evaluator, its full 1500 steps, cached in runs/benchmark/): the share it reads with
probability >= 0.9 ("readable"), how its readings spread over the ten classes, and the digit FD
(Frechet distance in its features) against the real val digits. The real val digits, which the
classifier never trained on, are the reference row. Writes
benchmarks/results/main-job-digits-DATE-DEVICE.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from zoo.bench.common import device_label, stamp, write_report
from zoo.bench.evaluator import EVALUATOR, EVALUATOR_STEPS, trained_evaluator
from zoo.data.digits import labelled_digits
from zoo.data.embedded import EMBEDDED_VERSION
from zoo.data.pixels import uint8_to_model_range
from zoo.metrics.digits import DigitScorer
from zoo.metrics.fid import feature_frechet_distance
from zoo.registry import Registry
from zoo.sharing.exports import export_run, load_model

ROOT = Path(__file__).resolve().parent.parent
CONFIDENT = 0.9


@torch.no_grad()
def readings(scorer: DigitScorer, images: torch.Tensor) -> dict:
    """What the evaluator makes of images in [-1, 1]: probabilities and features."""
    net = scorer.evaluator.modules["net"].eval()  # the built-in digit_classifier's network: logits for its confidence
    probabilities = torch.cat([net(c).softmax(1).cpu() for c in scorer.inputs(images)])
    return {"probabilities": probabilities, "features": scorer.features(images).double().numpy()}


def row(name: str, read: dict, real_val: dict | None) -> dict:
    """One table row; real_val None for the real val digits themselves (no distance to themselves)."""
    p = read["probabilities"]
    spread = torch.bincount(p.argmax(1), minlength=p.shape[1]).float() / len(p)
    return {
        "name": name,
        "count": len(p),
        "readable": (p.max(1).values >= CONFIDENT).float().mean().item(),
        "class_shares": [round(s, 4) for s in spread.tolist()],
        "digit_fd": feature_frechet_distance(real_val["features"], read["features"]) if real_val else None,
    }


def generator_images(argument: str, registry: Registry, samples: int) -> tuple[torch.Tensor, str]:
    label, _, path = argument.rpartition("=")
    source = Path(path)
    if not source.exists():
        raise SystemExit(f"{source} does not exist: pass a `zoo run` folder or a `zoo export` file")
    with tempfile.TemporaryDirectory() as tmp:
        file = source
        if source.is_dir():
            file = Path(tmp) / "model.safetensors"
            export_run(source, file, registry)
        spec, plugin, metadata = load_model(file, registry)
        weights = "EMA" if metadata.get("ema") == "true" else "raw"
        name = f"{label}: " if label else ""
        return plugin.generate(samples, seed=0), f"{name}{spec.name} step {metadata['step']}, {weights} generator"


def markdown(report: dict) -> str:
    lines = [
        "# Main job digits: how many a digit classifier reads",
        "",
        f"{report['device']}; {report['samples']} samples per generator, seed 0; embedded digits (1797 scikit-learn "
        f"digits, drawing {EMBEDDED_VERSION}: `zoo.data.embedded.pen_digits`; generators train on the first 1437, "
        "the rest is the held-out val split). "
        f"Evaluator: {EVALUATOR}, {report['evaluator']['steps']} steps, "
        f"{report['evaluator']['real_accuracy']:.1%} on {report['evaluator']['data']}. Readable: read with "
        f"probability >= {CONFIDENT}. Digit FD: against the real val "
        "digits in the evaluator's features (lower is better).",
        "",
        "| images | readable | digit FD | share read as 0 1 2 3 4 5 6 7 8 9 |",
        "|---|---|---|---|",
    ]
    for r in report["rows"]:
        shares = " ".join(f"{s:.0%}" for s in r["class_shares"])
        distance = "-" if r["digit_fd"] is None else f"{r['digit_fd']:.1f}"
        lines.append(f"| {r['name']} | {r['readable']:.1%} | {distance} | {shares} |")
    lines += ["", f"Scoring wall time: {report['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "sources", nargs="+", help="run folders of `zoo run` or files of `zoo export`, as PATH or LABEL=PATH"
    )
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    started = time.perf_counter()
    registry = Registry.discover()
    classifier, evaluator = trained_evaluator("", EVALUATOR_STEPS["full"], Path("runs/benchmark"))
    scorer = DigitScorer(classifier)
    val = labelled_digits("", "val", classifier.config.data.image_size)
    real_val = readings(scorer, uint8_to_model_range(val.images))
    rows = [row(f"real val digits ({len(val)}, held out from the classifier)", real_val, None)]
    for source in args.sources:
        images, name = generator_images(source, registry, args.samples)
        rows.append(row(name, readings(scorer, images), real_val))
    report = {
        "device": device_label(),
        "samples": args.samples,
        "evaluator": evaluator,
        "rows": rows,
        "wall_s": time.perf_counter() - started,
    }
    for path in write_report(args.out, stamp("main-job-digits", quick=False), report, markdown(report)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
