"""Share of a training step spent waiting for data: images decoded per step (PIL) against held in memory.

    python benchmarks/face_data_path.py --data-root PATH/face/train [--steps 60]

Trains dcgan with plugins/dcgan/faces-cpu.yaml through the engine twice, the same steps and seed:
once with a dataset that opens and decodes each PNG when the batch is drawn (what zoo's ImageFolder
did before it held images in memory), once with zoo's ImageFolder. The engine measures the time spent
waiting for each batch (metrics.jsonl: data_share). Writes benchmarks/results/face-data-path-DATE-DEVICE.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from zoo.bench.common import device_label, device_name
from zoo.data.images import decode, image_files
from zoo.data.pixels import uint8_to_model_range
from zoo.registry import Registry
from zoo.training.engine import Trainer
from zoo.training.run_log import read_metrics

ROOT = Path(__file__).resolve().parent.parent


class DecodedPerStep(torch.utils.data.Dataset):
    """The old path: PIL opens, resizes and converts each image in __getitem__, on the CPU."""

    def __init__(self, root: Path, size: int):
        self.files, self.size = image_files(root), size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        return {"image": uint8_to_model_range(decode(self.files[index], self.size))}


def measure(dataset_factory, config, steps: int) -> dict:
    spec = Registry.discover().get("dcgan")
    with tempfile.TemporaryDirectory() as run:
        trainer = Trainer(spec, config, run)
        if dataset_factory is not None:
            trainer.dataset = dataset_factory()
        started = time.perf_counter()
        trainer.fit()
        wall = time.perf_counter() - started
        rows = [r for r in read_metrics(run) if "data_share" in r][1:]  # the first window holds warm-up
    return {
        "data_share": statistics.median(r["data_share"] for r in rows),
        "images_per_s": statistics.median(r["images_per_s"] for r in rows),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", required=True, type=Path, help="a folder of face images, e.g. hw2_data/face/train"
    )
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    spec = Registry.discover().get("dcgan")
    from zoo.config import read_yaml

    config = spec.config(
        [read_yaml(ROOT / "plugins/dcgan/faces-cpu.yaml")],
        [
            f"data.root={args.data_root}",
            f"train.steps={args.steps}",
            "train.log_every=10",
            "train.sample_every=0",
            "train.checkpoint_every=0",
        ],
    )
    size = config.data.image_size
    results = {
        "decoded per step (PIL)": measure(lambda: DecodedPerStep(args.data_root, size), config, args.steps),
        "in memory (zoo ImageFolder)": measure(None, config, args.steps),
    }
    label = device_label()
    stamp = f"face-data-path-{datetime.date.today()}-{device_name()}"
    report = {
        "benchmark": "face-data-path",
        "date": str(datetime.date.today()),
        "device": label,
        "data_root": str(args.data_root),
        "recipe": "plugins/dcgan/faces-cpu.yaml",
        "steps": args.steps,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "| data path | waiting for data (median share of wall time) | train images/s | wall (incl. decoding) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v['data_share']:.1%} | {v['images_per_s']:.0f} | {v['wall_s']:.0f} s |" for k, v in results.items()
    ]
    (args.out / f"{stamp}.md").write_text(
        f"# Face data path ({report['date']}, {label})\n\n" + "\n".join(lines) + "\n\n"
        f"dcgan, `plugins/dcgan/faces-cpu.yaml` (64x64, batch 64), {args.steps} steps through the engine on "
        f"`{args.data_root}`, seed 0; medians over 10-step windows after the first.\n"
    )
    for k, v in results.items():
        print(f"{k}: data {v['data_share']:.1%}, {v['images_per_s']:.0f} img/s, {v['wall_s']} s")
    print(f"wrote {args.out / stamp}.md")


if __name__ == "__main__":
    main()
