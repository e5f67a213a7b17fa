"""The three GANs on HW2 faces at the same wall-clock budget: face rate and FID of 1000 samples.

    python benchmarks/gan_faces.py --data-root PATH/face --minutes 10 [--inception-weights FILE]

For each of dcgan, sagan and wgan_gp: train with its faces.yaml on <data-root>/train until the time
limit (train.time_limit_min), export, sample 1000 images with seed 0, then score them: the HW2 face
rate (needs the `faces` extra) and FID against <data-root>/val (needs the Inception weights; without
them the table says so). Runs go to runs/benchmark/gan-faces/ and are reused if finished; results to
benchmarks/results/ as JSON + markdown + each model's first-32 grid.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from zoo import checkpoints

PLUGINS = ("dcgan", "sagan", "wgan_gp")
ROOT = Path(__file__).resolve().parent.parent


def zoo(*args) -> str:
    command = [sys.executable, "-m", "zoo", *map(str, args)]
    print("$ zoo " + " ".join(map(str, args)), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, type=Path, help="HW2 face folder holding train/ and val/")
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget per model")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth, for FID")
    parser.add_argument("--plugins", nargs="+", default=list(PLUGINS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    stamp = f"gan-faces-{datetime.date.today()}-{device}"
    work = Path("runs/benchmark") / stamp
    rows = {}
    for name in args.plugins:
        run, weights, samples = work / name, work / f"{name}.safetensors", work / f"{name}-samples"
        timing = work / f"{name}-train_wall_s.json"  # kept so that a rerun that reuses the model still reports it
        if not weights.is_file():
            started = time.perf_counter()
            zoo("run", name, "--config", ROOT / f"plugins/{name}/faces.yaml", "--set", f"data.root={args.data_root / 'train'}",
                "--set", f"train.time_limit_min={args.minutes}", "--set", "train.sample_every=0", "--out", run)
            zoo("export", run, "--out", weights)
            timing.write_text(json.dumps(time.perf_counter() - started))
        train_s = json.loads(timing.read_text()) if timing.is_file() else float("nan")
        steps = checkpoints.step_of(checkpoints.latest(run))
        t0 = time.perf_counter()
        zoo("sample", name, "--weights", weights, "-n", args.samples, "--seed", 0, "--out", samples)
        sample_s = time.perf_counter() - t0
        zoo("sample", name, "--weights", weights, "-n", 32, "--seed", 0, "--grid", args.out / f"{stamp}-{name}-first32.png")
        row = {"steps": steps, "train_wall_s": round(train_s, 1), "sample_wall_s": round(sample_s, 1)}
        try:
            zoo("eval", "faces", samples, "--json", work / f"{name}-faces.json")
            row["face_rate"] = json.loads((work / f"{name}-faces.json").read_text())["face_rate"]
        except SystemExit as failed:
            row["face_rate"] = None
            row["face_rate_note"] = str(failed).splitlines()[-1][:200]
        fid_args = ["--inception-weights", args.inception_weights] if args.inception_weights else []
        done = subprocess.run([sys.executable, "-m", "zoo", "eval", "fid", "--real", args.data_root / "val", "--fake", samples,
                               "--json", work / f"{name}-fid.json", *fid_args], capture_output=True, text=True)
        if done.returncode == 0:
            row["fid"] = json.loads((work / f"{name}-fid.json").read_text())["fid"]
        else:
            row["fid"], row["fid_note"] = None, (done.stdout + done.stderr).strip().splitlines()[-1][:300]
        rows[name] = row
        print(name, row, flush=True)

    report = {"benchmark": "gan-faces", "date": str(datetime.date.today()), "device": device, "threads": torch.get_num_threads(),
              "data_root": str(args.data_root), "minutes_per_model": args.minutes, "samples": args.samples, "seed": 0, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| model | steps | face rate | FID (vs val) | train | sample 1000 |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        face = f"{row['face_rate']:.1%}" if row.get("face_rate") is not None else "not measured"
        fid = f"{row['fid']:.1f}" if row.get("fid") is not None else "not measured: no Inception weights"
        lines.append(f"| {name} | {row['steps']} | {face} | {fid} | {row['train_wall_s'] / 60:.1f} min | {row['sample_wall_s']:.0f} s |")
    (args.out / f"{stamp}.md").write_text(
        f"# GANs on HW2 faces, equal wall-clock budget ({report['date']}, {device})\n\n" + "\n".join(lines) + "\n\n"
        f"Each model: its `plugins/NAME/faces.yaml` (64x64, the reference reports' architectures), trained on "
        f"`{args.data_root}/train` for {args.minutes} min, then {args.samples} samples with seed 0. Face rate: "
        f"dlib HOG detector, exactly one face (real `val` faces score 94.6%). FID: pytorch-fid against `val`.\n"
    )
    print(f"wrote {args.out / stamp}.md")


if __name__ == "__main__":
    main()
