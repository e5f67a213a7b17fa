"""FID and KID (pytorch-fid's network and math, weights from a local file or the `fid` extra) and the HW2
face metric."""

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
from zoo.metrics import inception as inception_module


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
    with (
        mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None),
        mock.patch.object(
            torchvision.models.Inception3,
            "load_state_dict",
            lambda self, state, *a, **k: captured.update(self.state_dict()),
        ),
    ):
        inception.fid_inception_v3()
    path = tmp_path_factory.mktemp("weights") / inception_module.WEIGHTS_FILE
    torch.manual_seed(0)
    # Random convolution weights; BatchNorm's running statistics stay as built (a variance must be > 0).
    torch.save(
        {
            k: v if "running" in k or not v.is_floating_point() else torch.randn_like(v) * 0.05
            for k, v in captured.items()
        },
        path,
    )
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
    result = zoo(
        "eval", "fid", "--real", real, "--fake", fake, "--inception-weights", random_inception_weights, "--dims", 64
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "fake-fid.json").read_text())
    assert report["fid"] > 0 and (report["real_count"], report["fake_count"]) == (6, 5)
    assert (
        np.isfinite(report["kid"]) and report["kid_std"] >= 0 and report["kid_subsets"] == 100
    )  # unbiased: may be < 0
    assert "pytorch-fid" in report["backend"] and report["real_features_cached"] is False
    # 5 fakes leave no 5th neighbour: precision and recall say they were not measured rather than read 0.
    assert report["precision"] is None and report["coverage"] is None and "not measured" in result.output
    # The second time the real statistics come from the cache and give the same figure.
    monkeypatch.setenv(inception_module.WEIGHTS_ENV, str(random_inception_weights))
    again = zoo("eval", "fid", "--real", real, "--fake", fake, "--json", tmp_path / "again.json", "--dims", 64)
    assert "from cache" in again.output
    assert json.loads((tmp_path / "again.json").read_text())["fid"] == pytest.approx(report["fid"], rel=1e-6)


def test_missing_inception_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv(inception_module.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception_module, "_packaged_path", lambda: None)  # as without the `fid` extra
    with pytest.raises(ZooError) as error:
        inception_module.find_inception_weights()
    message = str(error.value)
    assert ".[fid]" in message and "--inception-weights" in message and inception_module.WEIGHTS_FILE in message
    with pytest.raises(ZooError, match="points at .*nowhere.pth"):
        inception_module.find_inception_weights(tmp_path / "nowhere.pth")


def test_damaged_weights_files_are_one_line_errors_that_name_the_file(tmp_path):
    images = write_images(tmp_path / "images", 3, 0)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a state dict")
    packaged = inception_module._packaged_path()
    damaged = [bad]
    if packaged is not None:  # the TorchScript file cut short, as an interrupted copy leaves it
        cut = tmp_path / "default_1.pt"
        cut.write_bytes(packaged.read_bytes()[: 2**20])
        damaged.append(cut)
    for path in damaged:
        result = zoo("eval", "fid", "--real", images, "--fake", images, "--inception-weights", path)
        assert result.exit_code == 1
        message = result.output.strip()
        assert message.count("\n") == 0 and "cannot read Inception weights" in message and str(path) in message


@pytest.fixture(scope="module")
def photographs():
    """Two real photographs (scikit-learn ships them), 299x299 crops in [0, 1], and a 64x64 copy of each."""
    from sklearn.datasets import load_sample_images

    full = torch.stack(
        [torch.from_numpy(np.array(i)).permute(2, 0, 1)[:, 50:349, 100:399] for i in load_sample_images().images]
    )
    small = torch.nn.functional.interpolate(full.float(), size=64, mode="area").round().to(torch.uint8)
    return full.float() / 255, small.float() / 255


def test_shipped_weights_give_pytorch_fid_features(photographs, tmp_path):
    """The TorchScript network from the `fid` extra, run as it is, and pytorch-fid's InceptionV3 loaded
    with its tensors (zoo's loader) give the same 2048-d features; so does a .pth saved from them."""
    packaged = inception_module._packaged_path()
    if packaged is None:
        pytest.skip("the `fid` extra is not installed: pip install -e '.[fid]'")
    full, small = photographs
    model = inception_module.inception(packaged)
    shipped = torch.jit.load(str(packaged), map_location="cpu").eval()
    with torch.no_grad():
        ours = model(full)[0].flatten(1)
        theirs = shipped(full * 2 - 1)  # the TF network takes [-1, 1]; pytorch-fid maps [0, 1] there itself
        assert ours.shape == (2, 2048) and ours.abs().mean() > 0.1
        assert (ours - theirs).abs().max().item() < 1e-4
        # 64x64 images, as the face GANs make them: pytorch-fid resizes, the TF network is given the same resize.
        resized = torch.nn.functional.interpolate(small, size=(299, 299), mode="bilinear", align_corners=False)
        assert (model(small)[0].flatten(1) - shipped(resized * 2 - 1)).abs().max().item() < 1e-4
        saved = tmp_path / inception_module.WEIGHTS_FILE
        torch.save(inception_module.read_state_dict(packaged), saved)
        assert torch.equal(inception_module.inception(saved)(full)[0].flatten(1), ours)


def test_kid_is_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 64)).astype(np.float32)
    same = rng.normal(size=(400, 64)).astype(np.float32)
    kid_same, std_same, size = fid_module.kernel_inception_distance(real, same)
    assert size == 200  # capped at half the smaller set
    small, _, _ = fid_module.kernel_inception_distance(real, same + 0.2)
    large, _, _ = fid_module.kernel_inception_distance(real, same + 0.5)
    assert abs(kid_same) < 3 * std_same + 1e-3 and abs(kid_same) < small / 10
    assert 0 < small < large


def test_kid_matches_the_unbiased_mmd_written_out():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(20, 5)), rng.normal(0.3, 1.0, size=(20, 5))
    value, std, size = fid_module.kernel_inception_distance(real, fake, subsets=1, subset_size=10, seed=3)
    pick = np.random.default_rng(3)
    x, y = fake[pick.choice(20, 10, replace=False)], real[pick.choice(20, 10, replace=False)]
    k = lambda a, b: (a @ b / 5 + 1) ** 3  # noqa: E731
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(10) for j in range(10) if i != j) / (10 * 9)
    across = sum(k(x[i], y[j]) for i in range(10) for j in range(10)) / 100
    assert value == pytest.approx(within - 2 * across, rel=1e-9) and std == 0.0 and size == 10


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


def test_face_rate_enlarges_images_below_the_detectors_size_and_says_so(tmp_path):
    pytest.importorskip("dlib", reason="the face metric is the optional extra: pip install -e '.[faces]'")
    import matplotlib.cbook

    portrait = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    folder = tmp_path / "small"
    folder.mkdir()
    portrait.crop((100, 60, 420, 380)).resize((32, 32)).save(folder / "0000.png")  # a 32x32 GAN's size
    result = zoo("eval", "faces", folder)
    assert result.exit_code == 0, result.output
    assert "face rate 100.0%" in result.output  # read as it is, the detector finds no face at 32x32
    assert "(32x32 images enlarged to 64 px for the detector, which finds no face below that)" in result.output
    report = json.loads((tmp_path / "small-faces.json").read_text())
    assert (
        report["enlarged_from"] == ["32x32"]
        and report["enlarged_to"] == 64
        and "enlarged to 64 px" in report["backend"]
    )
