"""How much of the machine each GAN's face training step uses: MFU, measured in one run.

    python benchmarks/gan_step_mfu.py --data-root PATH/face [--steps 40] [--repeats 3] [--only sagan ...]
        [--set KEY=VALUE ...]

Each variant (a plugin, a recipe, extra overrides: the CPU recipes as shipped, sagan's at other
widths and batch sizes, and each recipe with and without the engine's opt-in speed-ups,
train.channels_last and train.compile) runs its own training_step in the
plain PyTorch loop (zoo.bench.plain_loop) on <data-root>/train: FLOPs per step from torch's
FlopCounterMode, and the median seconds per step over --steps steps after a warm-up (a compiled
variant compiles before it is timed). Variants take turns, --repeats
rounds, so that drift in the machine's speed lands on all of them alike; each figure is the median
over the rounds. MFU is the achieved FLOP/s over the best dense probe (zoo.bench.flops) measured at
the start and the end of the run. Writes benchmarks/results/gan-step-mfu-DATE-DEVICE.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from pathlib import Path

import torch

from zoo.bench.common import device_label, device_name, stamp, write_report
from zoo.bench.flops import dense_ceiling
from zoo.bench.plain_loop import PlainLoop
from zoo.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
# (label, plugin, recipe, overrides): the CPU recipes as they ship, and what they were chosen against.
VARIANTS = (
    ("dcgan faces-cpu", "dcgan", "faces-cpu", ()),
    ("sagan faces-cpu", "sagan", "faces-cpu", ()),
    (
        "sagan faces-cpu, the report's attention placement (16x16 and 32x32 in G)",
        "sagan",
        "faces-cpu",
        ("model.attention_max_size=0",),
    ),
    ("wgan_gp faces-cpu", "wgan_gp", "faces-cpu", ()),
    # SAGAN's width and batch: the levers that make its convolutions denser (the matmul probe is the
    # ceiling, and a 32-channel convolution on 2 cores reaches about half of it).
    *(
        (f"sagan faces-cpu, {label}", "sagan", "faces-cpu", overrides)
        for label, overrides in (
            ("batch 128", ("train.batch_size=128",)),
            ("base_channels 48", ("model.base_channels=48",)),
            ("base_channels 64 (the report's width)", ("model.base_channels=64",)),
            (
                "base_channels 64, batch 128",
                ("model.base_channels=64", "train.batch_size=128"),
            ),
        )
    ),
    # The same steps with the engine's opt-in speed-ups (zoo/training/speed.py); sagan's recipe has
    # channels_last on, so its variant is the step without it.
    ("sagan faces-cpu, channels_last off", "sagan", "faces-cpu", ("train.channels_last=false",)),
    *(
        (f"{plugin} faces-cpu, channels_last", plugin, "faces-cpu", ("train.channels_last=true",))
        for plugin in ("dcgan", "wgan_gp")
    ),
    *(
        (f"{plugin} faces-cpu, compiled", plugin, "faces-cpu", ("train.compile=true",))
        for plugin in ("dcgan", "sagan", "wgan_gp")
    ),
)


def markdown(report: dict) -> str:
    ceiling = report["ceiling"]
    lines = [
        f"# GAN training steps: MFU ({report['date']}, {report['device']})",
        "",
        f"Plain PyTorch loop over each plugin's own training_step on `{report['data_root']}/train` (64x64); median "
        "seconds "
        f"per step over {report['steps']} steps after {report['warmup']} warm-up steps, the median of "
        f"{report['repeats']} "
        f"interleaved rounds; FLOPs per step from FlopCounterMode (matmuls, convolutions, attention; every forward and "
        f"backward pass of D and G, penalties included). Ceiling: {ceiling['flop_per_s'] / 1e9:.0f} GFLOP/s, the best "
        f"dense probe at the start and end of this run ({ceiling['probe']}; all probes: "
        + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in ceiling["probes"].items())
        + f" GFLOP/s). {report['threads']} torch threads. "
        f"Wall time {report['wall_s'] / 60:.1f} min.",
        "",
        "| step | batch | MFLOP per image | s per step (rounds) | images/s | GFLOP/s | MFU |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        rounds = ", ".join(f"{s:.3f}" for s in row["round_seconds"])
        lines.append(
            f"| {row['name']} | {row['batch']} | {row['flop_per_image'] / 1e6:.0f} | {row['seconds']:.3f} ({rounds}) "
            f"| {row['images_per_s']:.0f} | {row['flop_per_s'] / 1e9:.0f} | {row['mfu']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument("--data-root", required=True, type=Path, help="HW2 face folder holding train/")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant and round (default 40)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for every variant",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="TEXT",
        help="measure only the variants whose label contains one of these, e.g. --only sagan",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if not args.only or any(text in v[0] for text in args.only)]
    if not variants:
        parser.error(f"--only {' '.join(args.only)} matches none of: " + "; ".join(v[0] for v in VARIANTS))
    if not (args.data_root / "train").is_dir():
        parser.error(f"--data-root must hold train/ (the HW2 face folder); '{args.data_root}' does not")

    started, device = time.perf_counter(), torch.device(device_name())
    registry = Registry.discover()
    loops, flops = {}, {}
    for name, plugin, recipe, overrides in variants:
        spec = registry.get(plugin)
        config = spec.config(
            spec.read_configs([recipe]), [f"data.root={args.data_root / 'train'}", *overrides, *args.overrides]
        )
        loops[name] = PlainLoop(spec, config, device)
        flops[name] = loops[name].flops_per_step()  # averaged over 5 steps: a whole n_critic cycle for wgan_gp
        print(f"{name}: {flops[name] / config.train.batch_size / 1e6:.0f} MFLOP per image", flush=True)
    probes = [dense_ceiling(device)]
    seconds = {name: [] for name in loops}
    for round_index in range(args.repeats):
        for name, loop in loops.items():
            seconds[name].append(loop.seconds_per_step(args.steps, args.warmup))
            print(f"round {round_index + 1}: {name} {seconds[name][-1]:.3f} s per step", flush=True)
    probes.append(dense_ceiling(device))
    ceiling = max(probes, key=lambda probe: probe["flop_per_s"])

    rows = []
    for name, loop in loops.items():
        batch = loop.plugin.config.train.batch_size
        step_seconds = statistics.median(seconds[name])
        rate = flops[name] / step_seconds
        rows.append(
            {
                "name": name,
                "batch": batch,
                "flop_per_image": round(flops[name] / batch),
                "seconds": step_seconds,
                "round_seconds": seconds[name],
                "images_per_s": batch / step_seconds,
                "flop_per_s": rate,
                "mfu": rate / ceiling["flop_per_s"],
            }
        )
    report = {
        "benchmark": "gan-step-mfu",
        "date": str(datetime.date.today()),
        "device": device_label(),
        "data_root": str(args.data_root),
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "overrides": args.overrides,
        "ceiling": ceiling,
        "ceiling_probes": probes,
        "rows": rows,
        "wall_s": time.perf_counter() - started,
    }
    for path in write_report(args.out, stamp("gan-step-mfu", quick=False), report, markdown(report)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
