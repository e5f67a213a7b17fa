"""FID as pytorch-fid computes it: its InceptionV3 with the TF-ported FID weights, its statistics and
its Frechet distance, so figures compare with papers and with the HW2 grading.

The weights (pt_inception-2015-12-05-6726825d.pth, 91 MB) cannot be downloaded on every machine;
they come from --inception-weights, $ZOO_INCEPTION_WEIGHTS, or torch's hub cache, where pytorch-fid
itself would have put them. Statistics of a real image folder are cached: the real set rarely changes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from zoo.data.images import IMAGE_SUFFIXES
from zoo.errors import DataError, ZooError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_ENV = "ZOO_INCEPTION_WEIGHTS"
DIMS = 2048


def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def find_inception_weights(path: str | Path | None = None) -> Path:
    """The FID Inception weights file, or an error saying exactly which file is needed and where."""
    from pytorch_fid.inception import FID_WEIGHTS_URL

    for candidate, origin in ((path, "--inception-weights"), (os.environ.get(WEIGHTS_ENV), f"${WEIGHTS_ENV}")):
        if candidate:
            if not Path(candidate).expanduser().is_file():
                raise ZooError(f"{origin} points at '{candidate}', which is not a file")
            return Path(candidate).expanduser()
    if _hub_path().is_file():
        return _hub_path()
    raise ZooError(
        f"FID needs pytorch-fid's Inception weights, {WEIGHTS_FILE} (91 MB, from {FID_WEIGHTS_URL}), and this "
        f"machine cannot download them. Put the file at {_hub_path()}, or pass --inception-weights PATH, "
        f"or set {WEIGHTS_ENV}=PATH"
    )


def inception(weights: Path, device: str | torch.device = "cpu", dims: int = DIMS) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool3 features for dims=2048), its weights read from a local file,
    never the network."""
    from pytorch_fid import inception as fid_inception

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not a state dict
        raise ZooError(f"cannot read Inception weights {weights}: {exc}") from None
    # pytorch-fid fetches its weights by URL; hand it the local file's instead.
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state):
        try:
            model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
        except RuntimeError as exc:
            raise ZooError(f"{weights} is not the FID Inception state dict ({WEIGHTS_FILE}): {str(exc)[:200]}") from None
    return model.eval().to(device)


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"'{folder}' is not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise DataError(f"FID needs at least 2 images in '{folder}' (thousands for a meaningful figure); found {len(files)}")
    return files


def statistics(files: list[Path], model: torch.nn.Module, device, batch_size: int = 50, dims: int = DIMS):
    """Mean and covariance of the Inception features, computed by pytorch-fid."""
    from pytorch_fid.fid_score import calculate_activation_statistics

    return calculate_activation_statistics([str(f) for f in files], model, min(batch_size, len(files)), dims, device, 0)


def _cache_key(files: list[Path], weights: Path, dims: int) -> str:
    digest = hashlib.sha256(f"{weights.resolve()}:{weights.stat().st_size}:{dims}".encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f.resolve()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zoo" / "fid"


def cached_statistics(files: list[Path], model, weights: Path, device, batch_size: int = 50, dims: int = DIMS):
    """statistics() of a folder that does not change (the real set), kept in ~/.cache/zoo/fid."""
    path = cache_dir() / f"{_cache_key(files, weights, dims)}.npz"
    if path.is_file():
        with np.load(path) as saved:
            return saved["mu"], saved["sigma"], True
    mu, sigma = statistics(files, model, device, batch_size, dims)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, mu=mu, sigma=sigma)
    tmp.replace(path)
    return mu, sigma, False


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance
    from scipy.linalg import LinAlgError

    try:
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
    except LinAlgError:
        # Fewer images than feature dimensions make the covariances singular, and newer SciPy's sqrtm
        # raises where pytorch-fid expects non-finite values it would then fix the same way: eps * I.
        offset = np.eye(sigma1.shape[0]) * eps
        return float(calculate_frechet_distance(mu1, sigma1 + offset, mu2, sigma2 + offset))


def fid(real: str | Path, fake: str | Path, weights: str | Path | None = None, device: str = "cpu",
        batch_size: int = 50, dims: int = DIMS) -> dict:
    """FID between two image folders, with how it was measured. Only dims=2048 is the standard FID;
    smaller feature layers (64, 192, 768) are pytorch-fid's options for small sample counts."""
    weights = find_inception_weights(weights)
    real_files, fake_files = image_files(real), image_files(fake)
    model = inception(weights, device, dims)
    mu_r, sigma_r, cached = cached_statistics(real_files, model, weights, device, batch_size, dims)
    mu_f, sigma_f = statistics(fake_files, model, device, batch_size, dims)
    return {
        "metric": "fid", "fid": frechet_distance(mu_r, sigma_r, mu_f, sigma_f),
        "real": str(real), "fake": str(fake), "real_count": len(real_files), "fake_count": len(fake_files),
        "backend": f"pytorch-fid {_version('pytorch-fid')}, InceptionV3 {dims}-d features, weights {weights.name}", "dims": dims,
        "real_statistics_cached": cached, "device": str(device),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
