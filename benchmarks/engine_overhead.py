"""Framework overhead: zoo's engine training dcgan against a plain PyTorch loop of the same model,
batch and data, in the same process.

Both loops run dcgan's own training_step (pytorch/examples dcgan: one generator forward, a
discriminator update on real + detached fake, a generator update through the frozen discriminator)
from the same initial weights; the plain one is zoo.bench.plain_loop, the loop `zoo benchmark`
measures every plugin against. Each repetition times `--steps` steps after `--warmup` steps in each
loop, and the reported figure is the median over repetitions of plain_time / engine_time: 1.0 means
no overhead, and the target is >= 0.95.

    python benchmarks/engine_overhead.py                      # embedded digits at 64x64
    python benchmarks/engine_overhead.py --data-root PATH/face/train
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from zoo.bench.common import device_name, environment
from zoo.bench.plain_loop import plain_step_seconds
from zoo.registry import Registry
from zoo.training.engine import start_run
from zoo.training.run_log import read_metrics


def engine_seconds(spec, config, warmup: int, steps: int) -> float:
    """The engine's own per-window timing (metrics.jsonl), over the windows after the warmup."""
    with tempfile.TemporaryDirectory() as run_dir:
        start_run(spec, config, Path(run_dir), resume=False)
        rows = read_metrics(run_dir)
    per_image = config.train.batch_size
    timed = [r for r in rows if r["step"] > warmup]
    return sum(config.train.log_every * per_image / r["images_per_s"] for r in timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="", help="image folder (default: the embedded digits)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--base-channels", type=int, default=64, help="64 is the HW2 reports' DCGAN")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repetition (a multiple of --warmup)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.steps % args.warmup:
        parser.error("--steps must be a multiple of --warmup (the engine logs in windows of --warmup steps)")

    spec = Registry.discover().get("dcgan")
    config = spec.config(
        overrides=[
            f"data.root={args.data_root}",
            f"data.image_size={args.image_size}",
            f"model.base_channels={args.base_channels}",
            f"train.batch_size={args.batch_size}",
            f"train.steps={args.warmup + args.steps}",
            f"train.log_every={args.warmup}",
            "train.sample_every=0",
            "train.checkpoint_every=0",
        ]
    )
    device = device_name()
    print(
        f"dcgan {args.image_size}x{args.image_size} (base_channels {args.base_channels}), batch {args.batch_size}, "
        f"{args.steps} timed steps x {args.repeats}, {device}"
    )

    ratios, plain_times, engine_times = [], [], []
    for repeat in range(args.repeats):
        engine = engine_seconds(spec, config, args.warmup, args.steps)
        plain = (
            plain_step_seconds(spec, config, torch.device(device), steps=args.steps, warmup=args.warmup) * args.steps
        )
        ratios.append(plain / engine)
        plain_times.append(plain / args.steps)
        engine_times.append(engine / args.steps)
        print(
            f"  repeat {repeat + 1}: plain {plain / args.steps * 1000:.1f} ms/step, engine "
            f"{engine / args.steps * 1000:.1f} ms/step, ratio {plain / engine:.3f}"
        )

    result = {
        "benchmark": "engine_overhead",
        "plugin": "dcgan",
        **environment(),
        "data": args.data_root or "embedded digits",
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "base_channels": args.base_channels,
        "timed_steps": args.steps,
        "repeats": args.repeats,
        "plain_ms_per_step_median": round(statistics.median(plain_times) * 1000, 2),
        "engine_ms_per_step_median": round(statistics.median(engine_times) * 1000, 2),
        "ratio_plain_over_engine_median": round(statistics.median(ratios), 4),
        "ratios": [round(r, 4) for r in ratios],
        "target": ">= 0.95",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"engine_overhead-{result['date']}-{device}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        "| plugin | device | data | size | width | batch | plain ms/step | engine ms/step | ratio (plain/engine, "
        "median of "
        f"{args.repeats}) |\n|---|---|---|---|---|---|---|---|---|\n"
        f"| dcgan | {result['device']} | {result['data']} | {args.image_size} | {args.base_channels} | "
        f"{args.batch_size} "
        f"| {result['plain_ms_per_step_median']} | {result['engine_ms_per_step_median']} | "
        f"{result['ratio_plain_over_engine_median']} |\n"
    )
    print(f"median ratio plain/engine: {result['ratio_plain_over_engine_median']} (target >= 0.95) -> {stem}.json")


if __name__ == "__main__":
    main()
