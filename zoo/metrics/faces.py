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


def _dlib():
    try:
        import dlib
    except ImportError:
        raise ZooError(
            "the face metric needs dlib's HOG face detector, an optional extra: pip install -e \".[faces]\" "
            "(installs the prebuilt dlib-bin wheel)"
        ) from None
    return dlib


def faces_found(detector, path: Path) -> int:
    pixels = np.ascontiguousarray(read_rgb(path))  # RGB uint8, as face_recognition.load_image_file gives
    return len(detector(pixels, UPSAMPLE))


def face_rate(folder: str | Path, progress: bool = True) -> dict:
    folder = Path(folder).expanduser()
    files = image_files(folder)
    if not files:
        raise DataError(f"no images in '{folder}'")
    dlib = _dlib()
    detector = dlib.get_frontal_face_detector()
    counts = [faces_found(detector, f) for f in tqdm(files, desc="faces", unit="img", disable=not progress)]
    one = sum(c == 1 for c in counts)
    return {
        "metric": "face_rate", "face_rate": one / len(files), "exactly_one_face": one, "count": len(files),
        "no_face": sum(c == 0 for c in counts), "several_faces": sum(c > 1 for c in counts), "folder": str(folder),
        "backend": f"dlib {dlib.__version__} HOG frontal face detector, upsample {UPSAMPLE} (= face_recognition.face_locations)",
    }
