"""GANs on HW2 faces by time to quality: each trained for a time budget and scored along the way.

    python benchmarks/gan_faces.py --data-root PATH/face --minutes 60 --score-every 15

Budgets are scaled minutes: each call first times a fixed reference (dcgan faces-cpu, 60 steps), and
a minute is what that reference did in a minute on 2026-11-23 (125 images/s), so budgets compare
across days whose machines run 2x apart. On a day twice as fast, 60 scaled minutes train 30 wall
minutes. (--reference-steps 0 skips the reference: budgets are then wall minutes.)

For each GAN (dcgan, sagan, wgan_gp by default): train with its recipe (plugins/NAME/faces-cpu.yaml;
--recipe faces for the reports' networks) on <data-root>/train, in segments of --score-every minutes
(train.time_limit_min, then --resume). After each segment, with training stopped, export the EMA
generator, sample --samples images with seed 0, and score them against <data-root>/val: face rate
(dlib HOG, exactly one face), FID, KID, precision, recall, density and coverage. Scoring time is
measured and reported apart, so it never eats the training budget.

Runs live in runs/benchmark/gan-faces-DEVICE/NAME. Running the script again resumes them and keeps
the points already scored, so `--minutes 60 --plugins dcgan` after `--minutes 20` extends the dcgan
curve; a segment trained by a call that stopped while scoring it is scored, not trained again.
Results: benchmarks/results/gan-faces-DATE-DEVICE.{json,md,png} and each model's first-32 grid.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gan_faces_report import write_results  # this script's sibling: the tables, the plot and the grids

from zoo.bench.common import device_label, device_name

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ("dcgan", "sagan", "wgan_gp")
# dcgan faces-cpu's training speed on 2 CPU cores on 2026-11-23: what a budget's minutes are scaled to.
REFERENCE_IMAGES_PER_S = 125.0
# points.json's key for a model's segment that was trained and not yet scored (the call stopped while scoring).
UNSCORED = "trained_unscored"
# The reference is faces-cpu's network as it was then, with that day's recipe pinned: a later change of
# dcgan's CPU recipe must not move the yardstick.
REFERENCE_RECIPE = (
    "gan.loss=bce",
    "gan.r1=0",
    "gan.r2=0",
    "gan.penalty_every=1",
    "gan.diffaugment=",
    "optim.lr_g=0.0002",
    "optim.lr_d=0.0002",
    "optim.betas=[0.5,0.999]",
    "optim.lr_decay_from=1.0",
    "model.latent_dim=100",
    "model.base_channels=32",
    "train.batch_size=64",
    "train.channels_last=false",
    "train.compile=false",
)


def reference_config(spec, data_root: Path):
    """The speed reference's config: dcgan's faces-cpu.yaml under the pinned REFERENCE_RECIPE."""
    return spec.config(spec.read_configs(["faces-cpu"]), [f"data.root={data_root / 'train'}", *REFERENCE_RECIPE])


def speed_reference(data_root: Path, steps: int) -> dict:
    """The study's fixed yardstick, measured at its start: dcgan's faces-cpu step (64x64, batch 64) in
    the plain loop, and the best dense rate of this machine now. Speeds move 2x between days on shared
    machines; `scale` (today's images/s over 2026-11-23's) turns wall minutes into comparable ones."""
    import torch

    from zoo.bench.flops import dense_ceiling
    from zoo.bench.plain_loop import plain_step_seconds
    from zoo.registry import Registry

    device = torch.device(device_name())
    ceiling = dense_ceiling(device)
    if steps <= 0:
        return {"ceiling": ceiling}
    spec = Registry.discover().get("dcgan")
    config = reference_config(spec, data_root)
    seconds = plain_step_seconds(spec, config, device, steps=steps, warmup=min(5, steps))
    speed = round(config.train.batch_size / seconds, 1)  # the scale below is of the figure the report shows
    return {
        "recipe": "dcgan faces-cpu",
        "steps": steps,
        "images_per_s": speed,
        "scale": round(speed / REFERENCE_IMAGES_PER_S, 3),
        "scale_of_images_per_s": REFERENCE_IMAGES_PER_S,
        "ceiling": ceiling,
    }


def flop_per_image(name: str, recipe: Path, data_root: Path, overrides: list[str]) -> float:
    """FLOPs of one training step of the model as trained here (FlopCounterMode), per image of its batch."""
    import torch

    from zoo.bench.plain_loop import training_step_flops
    from zoo.registry import Registry

    spec = Registry.discover().get(name)
    config = spec.config(spec.read_configs([recipe]), [f"data.root={data_root / 'train'}", *overrides])
    return training_step_flops(spec, config, torch.device(device_name())) / config.train.batch_size


def train_segment(name: str, recipe: Path, data_root: Path, run: Path, minutes: float, overrides: list[str]) -> float:
    """Train (or resume) `run` for `minutes` of wall clock in its own process; its wall seconds."""
    from zoo.training import checkpoints

    command = [
        sys.executable,
        "-m",
        "zoo",
        "run",
        name,
        "--config",
        str(recipe),
        "--set",
        f"data.root={data_root / 'train'}",
        *sum((["--set", o] for o in overrides), []),
        "--set",
        f"train.time_limit_min={minutes}",
        "--out",
        str(run),
    ]
    if checkpoints.all_checkpoints(run):
        command.append("--resume")
    print("$ zoo " + " ".join(command[3:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"training failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def score(name: str, run: Path, data_root: Path, samples: int, work: Path, fid_dims: int) -> dict:
    """Face rate, FID and KID of `samples` images (seed 0) from the run's newest checkpoint (EMA weights)."""
    from zoo.registry import Registry
    from zoo.sharing.exports import export_run, load_model
    from zoo.training import checkpoints
    from zoo.viz import hw2_names, save_grid, save_images

    started = time.perf_counter()
    registry = Registry.discover()
    step = checkpoints.step_of(checkpoints.latest(run))
    weights = work / f"{name}-step{step}.safetensors"
    export_run(run, weights, registry)
    _, plugin, _ = load_model(weights, registry, expected_plugin=name)
    images = plugin.to(device_name()).generate(samples, seed=0)
    folder = work / f"{name}-samples"
    save_images(images, folder, hw2_names(samples))
    save_grid(images[:32], work / f"{name}-first32.png", nrow=8)
    row = {"step": step, **quality_of(folder, data_root, fid_dims)}
    row["score_wall_s"] = round(time.perf_counter() - started, 1)
    return row


def quality_of(folder: Path, data_root: Path, fid_dims: int) -> dict:
    """Face rate, FID, KID, precision/recall and density/coverage of an image folder against
    <data_root>/val; a metric that cannot be
    measured (its extra is missing) is None with a note, and the others go on."""
    from zoo.errors import ZooError
    from zoo.metrics.faces import face_rate
    from zoo.metrics.fid import fid

    row = {}
    try:
        row["face_rate"] = face_rate(folder, progress=False)["face_rate"]
    except ZooError as exc:
        row["face_rate"], row["face_rate_note"] = None, str(exc)
    try:
        quality = fid(data_root / "val", folder, device=device_name(), dims=fid_dims)
        row.update(
            {
                key: quality[key]
                for key in (
                    "fid",
                    "kid",
                    "kid_std",
                    "kid_subset_size",
                    "precision",
                    "recall",
                    "density",
                    "coverage",
                    "real_count",
                    "fake_count",
                )
            }
        )
    except ZooError as exc:
        row["fid"], row["kid"], row["fid_note"] = None, None, str(exc)
    return row


def real_reference(data_root: Path, samples: int, work: Path, fid_dims: int) -> dict:
    """The same metrics for `samples` real training images against val: the best a model can read at
    this sample count (FID is biased upward at 1000 images; KID is not). Computed once per work folder."""
    import shutil

    from zoo.data.images import image_files

    path = work / "real-reference.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    if "precision" in saved:  # older ones predate precision/recall: score again
        return saved
    started = time.perf_counter()
    folder = work / "real-train-sample"
    folder.mkdir(parents=True, exist_ok=True)
    for file in image_files(data_root / "train")[:samples]:
        shutil.copy(file, folder / file.name)
    reference = {
        "count": len(image_files(folder)),
        **quality_of(folder, data_root, fid_dims),
        "score_wall_s": round(time.perf_counter() - started, 1),
    }
    path.write_text(json.dumps(reference, indent=2))
    return reference


def step_figures(run: Path) -> dict:
    """Median training images/s and share of wall time spent waiting for data, from metrics.jsonl;
    empty when the run has not logged yet (a segment shorter than one log interval)."""
    from zoo.training.run_log import read_metrics

    if not (run / "metrics.jsonl").is_file():
        return {}
    rows = [r for r in read_metrics(run) if "images_per_s" in r]
    return {
        key: statistics.median(r[key] for r in rows)
        for key in ("images_per_s", "data_share")
        if rows and key in rows[0]
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument("--data-root", required=True, type=Path, help="HW2 face folder holding train/ and val/")
    parser.add_argument(
        "--minutes",
        type=float,
        default=60.0,
        help="training budget per model in scaled minutes (at 2026-11-23's speed; wall minutes with "
        "--reference-steps 0) (default 60)",
    )
    parser.add_argument(
        "--score-every", type=float, default=15.0, help="minutes of training between scored points (default 15)"
    )
    parser.add_argument("--plugins", nargs="+", default=list(PLUGINS))
    parser.add_argument(
        "--recipe",
        default="faces-cpu",
        help="plugins/NAME/RECIPE.yaml (default faces-cpu; faces: the reports' networks)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for every model",
    )
    parser.add_argument(
        "--reference-steps",
        type=int,
        default=60,
        help="steps of the speed reference (dcgan faces-cpu) measured first; 0 skips it (no scaled minutes)",
    )
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--fid-dims", type=int, default=2048, choices=(64, 192, 768, 2048), help="2048 is the standard FID"
    )
    parser.add_argument("--work", type=Path, help="where the runs live (default runs/benchmark/gan-faces-DEVICE)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    for flag, value in (("--minutes", args.minutes), ("--score-every", args.score_every), ("--samples", args.samples)):
        if value <= 0:
            parser.error(f"{flag} must be above 0, got {value}")
    if not (args.data_root / "train").is_dir() or not (args.data_root / "val").is_dir():
        parser.error(f"--data-root must hold train/ and val/ (the HW2 face folder); '{args.data_root}' does not")

    device = device_name()
    work = args.work or Path("runs/benchmark") / f"gan-faces-{device}"
    state_path = work / "points.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    stamp = f"gan-faces-{datetime.date.today()}-{device}"
    segments = math.ceil(args.minutes / args.score_every - 1e-9)
    reference = speed_reference(args.data_root, args.reference_steps)
    print("speed reference: " + json.dumps(reference), flush=True)
    # Budgets are scaled minutes (at 2026-11-23's speed) when the reference was measured, wall minutes if not.
    budget_key, scale = ("scaled_minutes", reference["scale"]) if "scale" in reference else ("minutes", 1.0)
    for name in args.plugins:
        recipe = ROOT / "plugins" / name / f"{args.recipe}.yaml"
        if not recipe.is_file():
            sys.exit(f"no recipe {recipe}; choose --recipe from the yaml files in plugins/{name}/")
        model = state.setdefault(name, {"recipe": args.recipe, "points": []})
        if model["recipe"] != args.recipe:
            sys.exit(f"{work / name} was trained with recipe {model['recipe']}; use --work for another recipe")
        flops = None
        for segment in range(1, segments + 1):
            target = round(min(segment * args.score_every, args.minutes), 4)
            if any(p.get(budget_key, -1.0) >= target - 1e-6 for p in model["points"]):
                continue  # scored in an earlier invocation
            last = model["points"][-1] if model["points"] else {}
            # A segment that a stopped call trained but did not score is scored now, not trained again.
            point = model.get(UNSCORED)
            if point is None:
                # The segment's wall minutes: in scaled minutes, what today's speed needs to reach the target.
                done = last.get(budget_key, 0.0)
                wall_minutes = round((target - done) / scale, 4)
                wall = train_segment(name, recipe, args.data_root, work / name, wall_minutes, args.overrides)
                point = {
                    "minutes": round(last.get("minutes", 0.0) + wall_minutes, 2),
                    "train_wall_s": round(wall + sum(p["segment_wall_s"] for p in model["points"]), 1),
                    "segment_wall_s": round(wall, 1),
                }
                if "scale" in reference:  # this segment's minutes at 2026-11-23's speed, on top of earlier ones'
                    point["scaled_minutes"] = round(last.get("scaled_minutes", 0.0) + wall_minutes * scale, 2)
                model[UNSCORED] = point
                state_path.write_text(json.dumps(state, indent=2))
            point = dict(point)
            point.update(score(name, work / name, args.data_root, args.samples, work, args.fid_dims))
            point.update(step_figures(work / name))
            flops = flops or flop_per_image(name, recipe, args.data_root, args.overrides)
            point["flop_per_image"] = round(flops)
            if "images_per_s" in point:
                point["mfu"] = round(flops * point["images_per_s"] / reference["ceiling"]["flop_per_s"], 3)
            model["points"].append(point)
            del model[UNSCORED]
            state_path.write_text(json.dumps(state, indent=2))  # a stopped benchmark keeps its scored points
            print(
                f"{name} at {target:g} {budget_key.replace('_', ' ')}: "
                + ", ".join(f"{k} {v}" for k, v in point.items()),
                flush=True,
            )

    any_point = next((p for m in state.values() for p in m["points"] if p.get("real_count")), {})
    real = real_reference(args.data_root, args.samples, work, args.fid_dims)
    report = {
        "speed_reference": reference,
        "benchmark": "gan-faces",
        "date": str(datetime.date.today()),
        "device": device_label(),
        "data_root": str(args.data_root),
        "train_images": len(list((args.data_root / "train").iterdir())),
        "real_count": any_point.get("real_count"),
        "score_every": args.score_every,
        "samples": args.samples,
        "seed": 0,
        "fid_dims": args.fid_dims,
        "overrides": args.overrides,
        "real_reference": real,
        "models": state,
    }
    for path in write_results(report, args.out, stamp, work):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
