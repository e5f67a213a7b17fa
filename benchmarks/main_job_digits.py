"""How readable are the main job's digits? Scores generators trained on the embedded digits.

    python benchmarks/main_job_digits.py runs/dcgan ["with EMA=runs/dcgan-2" dcgan.safetensors ...] [--samples 1000]

Each argument is a `zoo run` folder (its newest checkpoint, the EMA where the run kept one) or a
file from `zoo export`, optionally labelled for the table as LABEL=PATH. Each generator draws --samples images with seed 0, which the digit
classifier that `zoo benchmark` trains on the same embedded digits (cached in runs/benchmark/)
reads: the share it reads with probability >= 0.9 ("readable"), how its readings spread over the
ten classes, and the digit FD (Frechet distance in its features) against the real val digits.
The real val digits, which the classifier never trained on, are the reference row. Writes benchmarks/results/main-job-digits-DATE-DEVICE.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.benchmarking import device_label, stamp, trained_model, write_report
from zoo.data.digits import labelled_digits
from zoo.data.pixels import uint8_to_model_range
from zoo.metrics.fid import frechet_distance
from zoo.models import export_run, load_model
from zoo.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
EVALUATOR_STEPS = 1500  # zoo benchmark's full evaluator: the same run folder, so either reuses the other's
CONFIDENT = 0.9


def evaluator():
    run_dir = Path("runs/benchmark") / f"evaluator-embedded-{EVALUATOR_STEPS}steps"
    model, _ = trained_model("digit_classifier", run_dir, ["data.root=", f"train.steps={EVALUATOR_STEPS}", "train.sample_every=0"])
    return model


@torch.no_grad()
def readings(classifier, images: torch.Tensor) -> dict:
    """What the classifier makes of images in [-1, 1]: probabilities and features."""
    size = classifier.config.data.image_size
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    net = classifier.modules["net"].eval()  # the built-in digit_classifier's network: logits for its confidence
    chunks = [c.to(classifier.device) for c in images.split(500)]
    probabilities = torch.cat([net(c).softmax(1).cpu() for c in chunks])
    features = torch.cat([classifier.embed(c) for c in chunks]).double()
    return {"probabilities": probabilities, "features": features}


def digit_fd(a: torch.Tensor, b: torch.Tensor) -> float:
    stats = [(f.mean(0).numpy(), f.T.cov().numpy()) for f in (a, b)]
    with warnings.catch_warnings():  # fewer samples than features: pytorch-fid's fallback handles it
        warnings.simplefilter("ignore")
        return float(frechet_distance(*stats[0], *stats[1]))


def row(name: str, read: dict, real_val: dict | None) -> dict:
    """One table row; real_val None for the real val digits themselves (no distance to themselves)."""
    p = read["probabilities"]
    spread = torch.bincount(p.argmax(1), minlength=p.shape[1]).float() / len(p)
    return {"name": name, "count": len(p), "readable": (p.max(1).values >= CONFIDENT).float().mean().item(),
            "class_shares": [round(s, 4) for s in spread.tolist()],
            "digit_fd": digit_fd(read["features"], real_val["features"]) if real_val else None}


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
        f"digits, MNIST-M style). Evaluator: digit_classifier, {EVALUATOR_STEPS} steps, {report['evaluator_val_accuracy']:.1%} "
        f"on the real val split. Readable: read with probability >= {CONFIDENT}. Digit FD: against the real val "
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
    parser.add_argument("sources", nargs="+", help="run folders of `zoo run` or files of `zoo export`, as PATH or LABEL=PATH")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    started = time.perf_counter()
    registry = Registry.discover()
    classifier = evaluator()
    val = labelled_digits("", "val", classifier.config.data.image_size)
    real_val = readings(classifier, uint8_to_model_range(val.images))
    accuracy = (real_val["probabilities"].argmax(1) == val.labels).float().mean().item()
    rows = [row(f"real val digits ({len(val)}, held out from the classifier)", real_val, None)]
    for source in args.sources:
        images, name = generator_images(source, registry, args.samples)
        rows.append(row(name, readings(classifier, images), real_val))
    report = {"device": device_label(), "samples": args.samples, "evaluator_val_accuracy": accuracy,
              "rows": rows, "wall_s": time.perf_counter() - started}
    for path in write_report(args.out, stamp("main-job-digits", quick=False), report, markdown(report)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
