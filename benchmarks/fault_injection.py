"""Faults on real data, as a user would meet them: `kill -9` in the middle of a face run, a second run
into the live folder, resume, and SIGTERM in the middle of `zoo sample`. Checks that the resumed run
equals an uninterrupted one bit for bit, and that only whole images are left.

    python benchmarks/fault_injection.py --data-root PATH/hw2_data/face/train --out benchmarks/results

Runs one torch process at a time (the second `zoo run` is refused before it reads any data).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from zoo.bench.common import device_label
from zoo.sharing.weights import load_tensors
from zoo.training import checkpoints

CONFIG = Path(__file__).resolve().parent.parent / "plugins" / "dcgan" / "faces-cpu.yaml"


def zoo(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def wait_for(condition, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the run never got there")
        time.sleep(0.1)


def logged_steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    return (
        [json.loads(line)["step"] for line in path.read_text().splitlines() if line.endswith("}")]
        if path.exists()
        else []
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="A folder of face images, e.g. hw2_data/face/train.")
    parser.add_argument("--work", default="runs/fault-injection", help="Where the runs go (removed first).")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=20, help="train.checkpoint_every")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    work = Path(args.work)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    train = [
        "run",
        "dcgan",
        "--config",
        CONFIG,
        "--set",
        f"data.root={args.data_root}",
        "--set",
        f"train.steps={args.steps}",
        "--set",
        f"train.checkpoint_every={args.every}",
        "--set",
        "train.log_every=10",
        "--set",
        "train.sample_every=0",
        "--set",
        "train.keep_checkpoints=0",
    ]
    result: dict = {
        "data": args.data_root,
        "config": str(CONFIG.name),
        "steps": args.steps,
        "checkpoint_every": args.every,
        "seed": 0,
        "device": device_label(),
        "date": datetime.date.today().isoformat(),
    }
    started = time.perf_counter()

    # 1. kill -9 half-way between two checkpoints.
    killed = work / "killed"
    kill_at = args.every + args.every // 2
    run = zoo(*train, "--out", killed)
    wait_for(lambda: kill_at in logged_steps(killed))
    run.send_signal(signal.SIGKILL)
    run.wait()
    result["killed_after_step"] = max(logged_steps(killed))
    result["checkpoint_left"] = checkpoints.latest(killed).name

    # 2. resume; while it runs, a second run into the same folder must refuse.
    resumed = zoo(*train, "--out", killed, "--resume")
    wait_for(lambda: (killed / ".lock").exists() and (killed / ".lock").read_text().startswith(f"pid {resumed.pid}"))
    second = subprocess.run(
        [sys.executable, "-m", "zoo", *map(str, train), "--out", killed, "--resume"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    result["second_run"] = {"exit": second.returncode, "line": second.stderr.strip().splitlines()[-1]}
    output = resumed.communicate()[0]
    result["resume"] = next(line for line in output.splitlines() if "resuming at step" in line).strip()

    # 3. the same run without faults, compared bit for bit.
    straight = work / "straight"
    assert zoo(*train, "--out", straight).wait() == 0
    a, _ = load_tensors(checkpoints.latest(killed) / "modules.safetensors")
    b, _ = load_tensors(checkpoints.latest(straight) / "modules.safetensors")
    result["resumed_equals_uninterrupted"] = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    result["lost_steps"] = result["killed_after_step"] - checkpoints.step_of(Path(result["checkpoint_left"]))

    # 4. SIGTERM in the middle of zoo sample.
    weights = work / "faces.safetensors"
    assert zoo("export", killed, "--out", weights).wait() == 0
    images = work / "samples"
    sampler = zoo("sample", "--weights", weights, "-n", args.samples, "--out", images)
    wait_for(lambda: images.is_dir() and len(os.listdir(images)) >= args.samples // 5)
    sampler.send_signal(signal.SIGTERM)
    sampler.communicate()
    names = sorted(os.listdir(images))
    whole = 0
    for name in names:
        with Image.open(images / name) as image:
            image.load()
            whole += 1
    result["sigterm_sample"] = {
        "exit": sampler.returncode,
        "files": len(names),
        "whole_images": whole,
        "temporary_files": sum(n.startswith(".") for n in names),
        "asked": args.samples,
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"fault-injection-{result['date']}-cpu"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    s = result["sigterm_sample"]
    stem.with_suffix(".md").write_text(
        f"# Faults on real data ({result['date']}, {result['device']})\n\n"
        f"dcgan, {result['config']} on `{result['data']}`, {result['steps']} steps, checkpoint every "
        f"{result['checkpoint_every']}, "
        f"seed 0; wall time {result['wall_s']} s for everything below (`benchmarks/fault_injection.py`).\n\n"
        "| fault | outcome |\n|---|---|\n"
        f"| `kill -9` after step {result['killed_after_step']} | {result['checkpoint_left']} survives; "
        f"{result['lost_steps']} steps lost (less than one checkpoint interval) |\n"
        f"| a second `zoo run` into the folder while the resumed run trains | exit {result['second_run']['exit']}: "
        f"{result['second_run']['line']} |\n"
        f"| `--resume` | `{result['resume']}`; final weights equal the uninterrupted run's bit for bit: "
        f"{result['resumed_equals_uninterrupted']} |\n"
        f"| SIGTERM during `zoo sample -n {s['asked']}` | exit {s['exit']}; {s['files']} files, {s['whole_images']} "
        "whole images, "
        f"{s['temporary_files']} temporary files left |\n"
    )
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
