"""What the face metric reads on real faces at the size a GAN draws: 64x64, and shrunk to 32x32.

    python benchmarks/face_rate_small_images.py --real PATH/face/val [--count 500]

The first --count real faces by file name are scored by `zoo eval faces`' face_rate three ways: as
they are (64x64), shrunk to 32x32 (PIL bicubic, antialiased) and read as they are by the detector
(what face_rate did before it enlarged small images), and shrunk to 32x32 and enlarged back to 64 px
by face_rate itself. Writes benchmarks/results/face-rate-small-images-DATE-DEVICE.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.bench.common import environment, stamp, write_report
from zoo.data.images import image_files
from zoo.metrics import faces

ROOT = Path(__file__).resolve().parent.parent


def detector_as_is(folder: Path) -> float:
    """The share with exactly one face when the detector reads the images at their own size."""
    detector = faces._dlib().get_frontal_face_detector()
    files = image_files(folder)
    return sum(len(detector(np.asarray(Image.open(f).convert("RGB")), faces.UPSAMPLE)) == 1 for f in files) / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, required=True, help="a folder of real 64x64 faces, e.g. hw2_data/face/val")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    started = time.perf_counter()
    files = image_files(args.real)[: args.count]
    with tempfile.TemporaryDirectory() as tmp:
        full, small = Path(tmp) / "64", Path(tmp) / "32"
        full.mkdir(), small.mkdir()
        for f in files:
            image = Image.open(f).convert("RGB")
            image.save(full / f.name)
            image.resize((32, 32), Image.BICUBIC).save(small / f.name)
        rows = [
            {
                "images": f"{len(files)} real faces at {Image.open(files[0]).size[0]}px",
                "face_rate": faces.face_rate(full, progress=False)["face_rate"],
            },
            {"images": "the same shrunk to 32x32, read as they are", "face_rate": detector_as_is(small)},
            {
                "images": "the same shrunk to 32x32, enlarged to 64 px by face_rate",
                "face_rate": faces.face_rate(small, progress=False)["face_rate"],
            },
        ]
    report = {
        **environment(),
        "real": str(args.real),
        "count": len(files),
        "rows": rows,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    lines = [
        "# The face metric on small images",
        "",
        f"{report['device']}, {report['date']}; the first {len(files)} images of `{args.real}` by file name; dlib's "
        "HOG "
        f"detector, upsample {faces.UPSAMPLE} (face_recognition's default). Wall time {report['wall_s']} s.",
        "",
        "| images | face rate |",
        "|---|---|",
        *[f"| {r['images']} | {r['face_rate']:.1%} |" for r in rows],
        "",
    ]
    for path in write_report(args.out, stamp("face-rate-small-images", quick=False), report, "\n".join(lines)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
