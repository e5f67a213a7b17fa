import numpy as np
import pytest
import torch
from PIL import Image

from conftest import zoo
from zoo.config import Config
from zoo.data import ImageFolder, image_dataset
from zoo.data.pixels import to_model_range
from zoo.errors import DataError


def test_embedded_digits_are_deterministic_grey_pen_strokes_labelled_and_split():
    from zoo.data.digits import labelled_digits
    from zoo.data.embedded import pen_digits

    images, labels = pen_digits(32)
    assert images.shape == (1797, 3, 32, 32) and images.dtype == torch.uint8
    assert sorted(set(labels.tolist())) == list(range(10))
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])  # grey
    frame = torch.ones(32, 32, dtype=torch.bool)
    frame[4:28, 4:28] = False  # the digit keeps to the middle 24x24; its margin stays black
    assert images[:, :, frame].max() <= 2 and images[:, :, ~frame].float().mean() > 40
    pen_digits.cache_clear()
    assert torch.equal(pen_digits(32)[0], images)
    # One definition of the splits: the first 80% train, the rest held out, no image in both.
    train, val = labelled_digits("", "train", 32), labelled_digits("", "val", 32)
    assert (len(train), len(val)) == (1437, 360) and not set(train.names) & set(val.names)
    assert torch.equal(torch.cat([train.images, val.images]), images)


def test_the_mnistm_style_digits_are_deterministic_and_coloured():
    from zoo.data.embedded import mnistm_style_digits

    images, labels = mnistm_style_digits(28)
    assert images.shape == (1797, 3, 28, 28) and images.dtype == torch.uint8
    channels = images[:100].float().mean(dim=(2, 3))  # colour: the channels differ
    assert (channels.max(1).values - channels.min(1).values).mean() > 5
    mnistm_style_digits.cache_clear()
    assert torch.equal(mnistm_style_digits(28)[0], images)
    assert not torch.equal(mnistm_style_digits(28, seed=1)[0], images)


def test_digit_strokes_are_visible_against_the_background():
    # |photo - digit| inverts the photo under the strokes: pixels on strokes differ from the
    # same photo crop without the digit. Check that stroke pixels are far from the image's median.
    from sklearn.datasets import load_digits

    from zoo.data.embedded import mnistm_style_digits

    strokes = torch.from_numpy(load_digits().images[:50] > 8)
    gray = mnistm_style_digits(8)[0][:50].float().mean(1)
    contrast = [(g[s].mean() - g[~s].mean()).abs() for g, s in zip(gray, strokes)]
    assert torch.stack(contrast).mean() > 40


def test_image_folder_resizes_crops_and_keeps_uint8_in_memory(image_folder):
    data = ImageFolder(image_folder, 16)
    assert len(data) == 24 and data.images.shape == (24, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data[3]["image"].data_ptr() == data.images[3].data_ptr()  # a view of the one tensor, no decoding


def test_in_memory_images_equal_the_pil_path(image_folder):
    """What training sees (uint8 in memory, converted by the engine) equals decoding each file with PIL."""
    from torchvision.transforms import v2 as T

    pil_path = T.Compose(
        [
            T.PILToTensor(),
            T.Resize(16, antialias=True),
            T.CenterCrop(16),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    data = ImageFolder(image_folder, 16)
    batch = to_model_range({"image": data.images})
    assert batch["image"].dtype == torch.float32
    for i, path in enumerate(data.files):
        with Image.open(path) as image:
            expected = pil_path(image.convert("RGB"))
        assert torch.allclose(batch["image"][i], expected, atol=1e-6), path


def test_to_model_range_converts_uint8_and_passes_floats_through():
    batch = {"image": torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8), "label": torch.tensor([3])}
    out = to_model_range(batch)
    assert torch.allclose(out["image"], torch.tensor([[[[-1.0, 1.0, 128 / 127.5 - 1]]]]), atol=1e-6)
    assert torch.equal(out["label"], batch["label"])
    floats = {"image": torch.zeros(1, 3, 2, 2)}
    assert to_model_range(floats) is floats


def test_image_dataset_uses_root_or_the_embedded_default(image_folder):
    assert isinstance(image_dataset(Config({"root": str(image_folder), "image_size": 16})), ImageFolder)
    embedded = image_dataset(Config({"root": "", "image_size": 16}))
    # Generators train on the embedded train split only: the digit metrics score against the val split.
    assert len(embedded) == 1437 and embedded.describe().startswith("embedded/train: 1437 images 16x16")
    item = embedded[5]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0


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
    # A broken file after good ones is found while the folder is read, before any training step.
    later = tmp_path / "later"
    later.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(later / f"{i:04d}.png")
    (later / "0003.png").write_bytes(Image.new("RGB", (8, 8)).tobytes()[:20])
    with pytest.raises(DataError, match="cannot read image .*0003.png.*remove or replace"):
        ImageFolder(later, 8)


def test_training_on_an_image_folder_through_the_cli(image_folder, tmp_path):
    result = zoo(
        "run",
        "dcgan",
        "--set",
        f"data.root={image_folder}",
        "--set",
        "data.image_size=16",
        "--set",
        "model.base_channels=8",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.steps=2",
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    assert f"24 images from {image_folder}, 16x16" in result.output
    too_few = zoo(
        "run",
        "dcgan",
        "--set",
        f"data.root={image_folder}",
        "--set",
        "data.image_size=16",
        "--set",
        "train.batch_size=64",
        "--out",
        tmp_path / "run2",
    )
    assert too_few.exit_code == 1 and "fewer than one batch" in too_few.output
    assert "run folder:" not in too_few.output  # refused before the run starts, not at its first step
    empty = zoo("run", "dcgan", "--set", f"data.root={tmp_path / 'nowhere'}", "--out", tmp_path / "run3")
    assert empty.exit_code == 1 and "is not a folder" in empty.output


def test_grey_alpha_palette_and_16_bit_images_become_rgb(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (10, 10), 128).save(folder / "a_grey.png")
    Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(folder / "b_rgba.png")
    Image.new("LA", (10, 10), (200, 255)).save(folder / "c_grey_alpha.png")
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.save(folder / "d_palette.png")
    palette.save(folder / "e_palette_transparent.png", transparency=0)
    Image.fromarray(np.full((10, 10), 128 * 257, dtype=np.uint16)).save(folder / "f_16bit.png")
    data = ImageFolder(folder, 8)
    assert data.images.shape == (6, 3, 8, 8)
    colours = [tuple(data.images[i, :, 4, 4].tolist()) for i in range(6)]
    assert colours == [(128, 128, 128), (255, 0, 0), (200, 200, 200), (10, 20, 30), (10, 20, 30), (128, 128, 128)]
