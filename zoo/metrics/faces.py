"""The HW2 face metric: the share of images in which a HOG face detector finds exactly one face.

HW2's face_recog.py counts `len(face_recognition.face_locations(image)) == 1`. face_locations with its
defaults is dlib's HOG frontal face detector run with one upsampling, which is what this calls:
the same detector and decision, without face_recognition's other dependencies (its CNN models, and
a `dlib` requirement that pip would compile from source). dlib comes from the optional extra
`pip install -e ".[faces]"` (the prebuilt `dlib-bin` wheel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from zoo.data.images import image_files, read_rgb
from zoo.errors import DataError, ZooError

UPSAMPLE = 1  # face_recognition.face_locations' number_of_times_to_upsample default
# The HW2 images are 64x64. Below that the detector finds nothing: 500 real face/val images score
# 94.6% at 64x64 and 0% shrunk to 32x32 (85.2% shrunk and enlarged back). Smaller images are enlarged
# to this size first (bicubic), and the result says so.
DETECTOR_SIZE = 64


def _dlib():
    try:
        import dlib
    except ImportError:
        raise ZooError(
            'the face metric needs dlib\'s HOG face detector, an optional extra: pip install -e ".[faces]" '
            "(installs the prebuilt dlib-bin wheel)"
        ) from None
    return dlib


def detector_pixels(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(RGB uint8 pixels as face_recognition.load_image_file gives them, the original (H, W) when the
    image was smaller than DETECTOR_SIZE and was enlarged to it, else None)."""
    from PIL import Image

    pixels = read_rgb(path)
    height, width = pixels.shape[:2]
    if min(height, width) >= DETECTOR_SIZE:
        return np.ascontiguousarray(pixels), None
    scale = DETECTOR_SIZE / min(height, width)
    size = (round(width * scale), round(height * scale))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.BICUBIC)), (height, width)


def face_rate(folder: str | Path, progress: bool = True) -> dict:
    folder = Path(folder).expanduser()
    files = image_files(folder)
    if not files:
        raise DataError(f"no images in '{folder}'")
    dlib = _dlib()
    detector = dlib.get_frontal_face_detector()
    counts, enlarged = [], set()
    for path in tqdm(files, desc="faces", unit="img", disable=not progress):
        pixels, original = detector_pixels(path)
        counts.append(len(detector(pixels, UPSAMPLE)))
        if original:
            enlarged.add(f"{original[0]}x{original[1]}")
    one = sum(c == 1 for c in counts)
    note = (
        f"; images of {', '.join(sorted(enlarged))} enlarged to {DETECTOR_SIZE} px (bicubic) first" if enlarged else ""
    )
    return {
        "metric": "face_rate",
        "face_rate": one / len(files),
        "exactly_one_face": one,
        "count": len(files),
        "no_face": sum(c == 0 for c in counts),
        "several_faces": sum(c > 1 for c in counts),
        "folder": str(folder),
        "enlarged_from": sorted(enlarged),
        "enlarged_to": DETECTOR_SIZE if enlarged else None,
        "backend": f"dlib {dlib.__version__} HOG frontal face detector, upsample {UPSAMPLE} "
        f"(= face_recognition.face_locations){note}",
    }


def enlarged_note(result: dict) -> str:
    """' (32x32 images enlarged to 64 px for the detector, which finds no face below that)', or ''."""
    if not result["enlarged_from"]:
        return ""
    return (
        f" ({', '.join(result['enlarged_from'])} images enlarged to {result['enlarged_to']} px for the detector, "
        "which finds no face below that)"
    )
