"""FID (pytorch-fid's network and math, weights from a local file) and the HW2 face metric."""

import json
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from conftest import zoo
from zoo.errors import ZooError
from zoo.metrics import fid as fid_module


def test_frechet_distance_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(0.3, 1.2, size=(150, 8))
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)
    assert fid_module.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert fid_module.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A state dict with the FID Inception's exact architecture and random values, saved like the real file."""
    import torchvision
    from pytorch_fid import inception

    captured = {}
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), mock.patch.object(
        torchvision.models.Inception3, "load_state_dict", lambda self, state, *a, **k: captured.update(self.state_dict())
    ):
        inception.fid_inception_v3()
    path = tmp_path_factory.mktemp("weights") / fid_module.WEIGHTS_FILE
    torch.manual_seed(0)
    # Random convolution weights; BatchNorm's running statistics stay as built (a variance must be > 0).
    torch.save({k: v if "running" in k or not v.is_floating_point() else torch.randn_like(v) * 0.05 for k, v in captured.items()}, path)
    return path


def write_images(folder, n, seed):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


def test_fid_end_to_end_with_weights_from_a_local_file(random_inception_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real, fake = write_images(tmp_path / "real", 6, 0), write_images(tmp_path / "fake", 5, 1)
    # 64-d features keep the test fast (the matrix square root of 2048x2048 takes ~30 s); the
    # weights file is still loaded into the whole network.
    result = zoo("eval", "fid", "--real", real, "--fake", fake, "--inception-weights", random_inception_weights, "--dims", 64)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "fake-fid.json").read_text())
    assert report["fid"] > 0 and (report["real_count"], report["fake_count"]) == (6, 5)
    assert "pytorch-fid" in report["backend"] and report["real_statistics_cached"] is False
    # The second time the real statistics come from the cache and give the same figure.
    monkeypatch.setenv(fid_module.WEIGHTS_ENV, str(random_inception_weights))
    again = zoo("eval", "fid", "--real", real, "--fake", fake, "--json", tmp_path / "again.json", "--dims", 64)
    assert "from cache" in again.output
    assert json.loads((tmp_path / "again.json").read_text())["fid"] == pytest.approx(report["fid"], rel=1e-6)


def test_missing_inception_weights_say_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.delenv(fid_module.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ZooError) as error:
        fid_module.find_inception_weights()
    message = str(error.value)
    assert fid_module.WEIGHTS_FILE in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "--inception-weights" in message
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a state dict")
    images = write_images(tmp_path / "images", 3, 0)
    result = zoo("eval", "fid", "--real", images, "--fake", images, "--inception-weights", bad)
    assert result.exit_code == 1 and "cannot read Inception weights" in result.output


def test_face_rate_counts_images_with_exactly_one_face(tmp_path):
    pytest.importorskip("dlib", reason="the face metric is the optional extra: pip install -e '.[faces]'")
    import matplotlib.cbook
    from sklearn.datasets import load_sample_images

    # A real portrait shipped with matplotlib (Grace Hopper), one face; two of them side by side; a photo with no face.
    portrait = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    folder = tmp_path / "faces"
    folder.mkdir()
    portrait.crop((56, 40, 456, 440)).resize((64, 64)).save(folder / "0000.png")  # HW2 size
    pair = Image.new("RGB", (256, 150))
    pair.paste(portrait.resize((128, 150)), (0, 0))
    pair.paste(portrait.resize((128, 150)), (128, 0))
    pair.save(folder / "0001.png")
    Image.fromarray(load_sample_images().images[1][:64, :64]).save(folder / "0002.png")
    result = zoo("eval", "faces", folder)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "faces-faces.json").read_text())
    assert (report["exactly_one_face"], report["several_faces"], report["no_face"], report["count"]) == (1, 1, 1, 3)
    assert report["face_rate"] == pytest.approx(1 / 3)
