import pytest
import torch
from PIL import Image

from conftest import zoo
from zoo.config import Config
from zoo.data import EmbeddedDigits, ImageFolder, image_dataset
from zoo.errors import DataError


def test_embedded_digits_are_deterministic_coloured_and_labelled():
    data = EmbeddedDigits(28)
    assert len(data) == 1797
    item = data[5]
    assert item["image"].shape == (3, 28, 28) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert sorted(set(data.labels.tolist())) == list(range(10))
    channels = data.images[:100].float().mean(dim=(2, 3))  # colour: the channels differ
    assert (channels.max(1).values - channels.min(1).values).mean() > 5
    from zoo.data.embedded import mnistm_style_digits

    mnistm_style_digits.cache_clear()
    assert torch.equal(EmbeddedDigits(28).images, data.images)
    assert not torch.equal(EmbeddedDigits(28, seed=1).images, data.images)


def test_digit_strokes_are_visible_against_the_background():
    # |photo - digit| inverts the photo under the strokes: pixels on strokes differ from the
    # same photo crop without the digit. Check that stroke pixels are far from the image's median.
    from sklearn.datasets import load_digits

    data = EmbeddedDigits(8)
    strokes = torch.from_numpy(load_digits().images[:50] > 8)
    gray = data.images[:50].float().mean(1)
    contrast = [(g[s].mean() - g[~s].mean()).abs() for g, s in zip(gray, strokes)]
    assert torch.stack(contrast).mean() > 40


def test_image_folder_resizes_crops_and_scales(image_folder):
    data = ImageFolder(image_folder, 16)
    assert len(data) == 24
    image = data[0]["image"]
    assert image.shape == (3, 16, 16) and -1.0 <= image.min() and image.max() <= 1.0


def test_image_dataset_uses_root_or_the_embedded_default(image_folder):
    assert isinstance(image_dataset(Config({"root": str(image_folder), "image_size": 16})), ImageFolder)
    assert isinstance(image_dataset(Config({"root": "", "image_size": 16})), EmbeddedDigits)


def test_missing_empty_and_unreadable_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        ImageFolder(tmp_path / "missing", 16)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="no images"):
        ImageFolder(tmp_path / "empty", 16)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0001.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*0001.png"):
        ImageFolder(bad, 16)


def test_training_on_an_image_folder_through_the_cli(image_folder, tmp_path):
    result = zoo(
        "run", "dcgan", "--set", f"data.root={image_folder}", "--set", "data.image_size=16",
        "--set", "model.base_channels=8", "--set", "train.batch_size=8", "--set", "train.steps=2",
        "--out", tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    assert f"24 images from {image_folder}, 16x16" in result.output
    too_few = zoo("run", "dcgan", "--set", f"data.root={image_folder}", "--set", "data.image_size=16",
                  "--set", "train.batch_size=64", "--out", tmp_path / "run2")
    assert too_few.exit_code == 1 and "fewer than one batch" in too_few.output
    empty = zoo("run", "dcgan", "--set", f"data.root={tmp_path / 'nowhere'}", "--out", tmp_path / "run3")
    assert empty.exit_code == 1 and "is not a folder" in empty.output


def test_grey_and_rgba_images_become_rgb(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (10, 10), 128).save(folder / "a.png")
    Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(folder / "b.png")
    data = ImageFolder(folder, 8)
    assert data[0]["image"].shape == data[1]["image"].shape == (3, 8, 8)
