"""One task, two kinds of model: the class-conditional GAN (cgan) against the conditional DDPM
(ddpm_unet) on MNIST-M digits, each given the same training wall time.

    python benchmarks/gan_vs_diffusion.py --data hw2_data/digits/mnistm [--minutes 20] [--samples 1000]

Both train on `--data` (its train split) through the engine for `--minutes` of wall time each, in
run folders under runs/benchmark/ that are reused when present. Each then draws `--samples` images,
an equal number per digit, seed 0 (the GAN in one pass, the DDPM with DPM-Solver++ at 10 and 25
steps, guidance 2), scored by zoo benchmark's digit evaluator (zoo.metrics.digits, 1500 steps on the
same train split): accuracy on the requested digit, and the Frechet distance to the held-out
val digits in the evaluator's features. Writes benchmarks/results/gan-vs-diffusion-DATE-DEVICE.{json,md}
and a picture of each model's first ten samples per digit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from zoo.bench.common import device_label, device_name, stamp, write_report
from zoo.bench.evaluator import EVALUATOR, EVALUATOR_STEPS, trained_evaluator
from zoo.data.digits import labelled_digits
from zoo.metrics.digits import DigitScorer
from zoo.registry import Registry
from zoo.sharing.exports import export_run, load_model
from zoo.training import checkpoints
from zoo.training.engine import start_run
from zoo.viz import save_class_grid

ROOT = Path(__file__).resolve().parent.parent
RUNS = Path("runs/benchmark")


def trained_for(name: str, data: str, minutes: float, registry: Registry):
    """`name` trained on `data` for `minutes` of wall time (or the finished run in its folder), with
    its EMA weights; and (steps done, training seconds)."""
    run_dir = RUNS / f"{name}-{Path(data).name}-{minutes:g}min"
    model = run_dir / "model.safetensors"
    if not model.is_file():
        if checkpoints.all_checkpoints(run_dir):
            raise SystemExit(
                f"{run_dir} holds an unfinished run: delete it and start again (a time budget cannot resume)"
            )
        spec = registry.get(name)
        config = spec.config(
            [],
            [
                f"data.root={data}",
                "train.steps=1000000",
                f"train.time_limit_min={minutes}",
                "train.sample_every=0",
                "train.checkpoint_every=1000000",
                "train.log_every=100",
            ],
        )
        started = time.perf_counter()
        start_run(spec, config, run_dir, resume=False)
        (run_dir / "train_wall_s.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
        export_run(run_dir, model, registry)
    _, plugin, metadata = load_model(model, registry, expected_plugin=name)
    return plugin.to(device_name()), int(metadata["step"]), float((run_dir / "train_wall_s.txt").read_text())


def score(scorer: DigitScorer, images: torch.Tensor, labels: torch.Tensor) -> dict:
    return {"accuracy": scorer.accuracy(images, labels)["accuracy"], "digit_fd": scorer.frechet_distance(images)}


def timed(draw) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    images = draw()
    return images, time.perf_counter() - started


def markdown(r: dict) -> str:
    lines = [
        "# GAN against diffusion on one task: class-conditional MNIST-M digits",
        "",
        f"{r['device']}. Data: {r['data']} (train split; FD against the {r['real_count']} val digits). "
        f"Each model trained for {r['minutes']:g} minutes of wall time, seed 0. {r['samples']} samples per row, "
        f"{r['samples'] // 10} per digit, seed 0, EMA weights. Evaluator: {EVALUATOR}, {r['evaluator']['steps']} "
        "steps, "
        f"{r['evaluator']['real_accuracy']:.1%} on {r['evaluator']['data']}.",
        "",
        "| model | training | sampler | network passes / image | accuracy | digit FD | time for 1000 images |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['model']} | {row['steps']} steps, {row['train_s'] / 60:.1f} min | {row['sampler']} "
            f"| {row['passes']} | {row['accuracy']:.1%} | {row['digit_fd']:.1f} | {row['seconds_per_1000']:.1f} s |"
        )
    lines += [
        "",
        "- accuracy: share of samples the evaluator reads as the requested digit (chance: 10%).",
        "- digit FD: Frechet distance between the samples and the real val digits in the evaluator's features "
        "(FID with a digit classifier instead of Inception; lower is better).",
        "- network passes: forward passes of the generator / UNet per image (guidance 2 runs the UNet twice per step).",
        f"- Whole benchmark: {r['wall_s'] / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="one digit domain in the HW2 layout, e.g. hw2_data/digits/mnistm")
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time of each model")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    started = time.perf_counter()
    registry = Registry.discover()
    data = str(Path(args.data).expanduser().resolve())
    name = stamp("gan-vs-diffusion", quick=False)
    gan, gan_steps, gan_s = trained_for("cgan", data, args.minutes, registry)
    ddpm, ddpm_steps, ddpm_s = trained_for("ddpm_unet", data, args.minutes, registry)
    evaluator, evaluator_info = trained_evaluator(data, EVALUATOR_STEPS["full"], RUNS)
    real = labelled_digits(data, "val", evaluator.config.data.image_size)
    scorer = DigitScorer(evaluator, real)

    labels = torch.arange(10).repeat_interleave(args.samples // 10)
    draws = [("cgan", gan_steps, gan_s, "one pass", 1, lambda: gan.generate(len(labels), 0, labels=labels))]
    for steps in (10, 25):
        draws.append(
            (
                "ddpm_unet",
                ddpm_steps,
                ddpm_s,
                f"DPM-Solver++ {steps} steps, guidance 2",
                2 * steps,
                lambda steps=steps: ddpm.sample(labels, 0, "dpm", steps, 2.0, progress=True),
            )
        )
    rows, pictures = [], []
    for model, steps, train_s, sampler, passes, draw in draws:
        images, seconds = timed(draw)
        row = {
            "model": model,
            "steps": steps,
            "train_s": train_s,
            "sampler": sampler,
            "passes": passes,
            "seconds_per_1000": seconds * 1000 / len(labels),
            **score(scorer, images, labels),
        }
        rows.append(row)
        print(f"{model} ({sampler}): {row['accuracy']:.1%}, FD {row['digit_fd']:.1f}, {seconds:.1f}s", flush=True)
        pictures.append(save_class_grid(images, 10, args.out / f"{name}-{model}-{passes}passes.png"))
    report = {
        "device": device_label(),
        "data": data,
        "real_count": len(real),
        "minutes": args.minutes,
        "samples": len(labels),
        "evaluator": evaluator_info,
        "rows": rows,
        "wall_s": time.perf_counter() - started,
    }
    for path in [*write_report(args.out, name, report, markdown(report)), *pictures]:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
