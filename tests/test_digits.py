"""Digit-domain loaders: HW2 layout, USPS HDF5, SVHN .mat, and their errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_hw2_domain
from zoo.data.digits import DomainPairs, available_domains, load_domain, load_image_folder
from zoo.errors import DataError


def test_hw2_layout_reads_the_split_csv_and_makes_grey_images_rgb(digit_root):
    train = load_domain(str(digit_root), "usps", "train", 28)
    val = load_domain(str(digit_root), "usps", "val", 28)
    assert (len(train), len(val)) == (160, 40)
    assert train.images.shape == (160, 3, 28, 28) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0], train.images[:, 2])  # grey repeated over the channels
    assert val.names[0] == "00160.png"
    pixels = np.array(Image.open(digit_root / "usps" / "data" / "00160.png"))
    assert torch.equal(val.images[0, 0], torch.from_numpy(pixels))
    assert load_domain(str(digit_root), "mnistm", "train", 16).images.shape == (160, 3, 16, 16)


def test_usps_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    (tmp_path / "usps").mkdir()
    with h5py.File(tmp_path / "usps" / "usps.h5", "w") as f:
        for split, n in (("train", 12), ("test", 5)):
            group = f.create_group(split)
            group["data"] = rng.random((n, 256))  # 16x16 in [0, 1], flattened: the common usps.h5
            group["target"] = np.arange(n) % 10
    val = load_domain(str(tmp_path), "usps", "val", 28)
    assert val.images.shape == (5, 3, 28, 28)
    assert val.labels.tolist() == [0, 1, 2, 3, 4]
    assert load_domain(str(tmp_path), "usps", "train", 16).images.shape == (12, 3, 16, 16)
    assert "usps" in available_domains(tmp_path)


def test_svhn_mat_maps_label_10_to_0_and_val_to_test(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    (tmp_path / "svhn").mkdir()
    for split, n in (("train", 8), ("test", 4)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1)  # SVHN: 1..10, 10 is the digit 0
        y[0] = 10
        savemat(tmp_path / "svhn" / f"{split}_32x32.mat", {"X": X, "y": y})
    val = load_domain(str(tmp_path), "svhn", "val", 28)
    assert val.images.shape == (4, 3, 28, 28)
    assert val.labels.tolist() == [0, 2, 3, 4]
    first = torch.from_numpy(X[:, :, :, 0]).permute(2, 0, 1)
    assert load_domain(str(tmp_path), "svhn", "val", 32).images[0].equal(first)


def test_a_missing_domain_names_what_was_found(digit_root):
    with pytest.raises(DataError, match=r"no domain 'svhn'.*found: mnistm, usps"):
        load_domain(str(digit_root), "svhn", "train", 28)
    with pytest.raises(DataError, match="not a folder"):
        load_domain(str(digit_root / "nowhere"), "usps", "train", 28)


def test_bad_label_files_are_named(tmp_path):
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    write_hw2_domain(tmp_path / "d", images, [1, 2, 3, 4], 2)
    (tmp_path / "d" / "train.csv").write_text("file,digit\n00000.png,1\n")
    with pytest.raises(DataError, match="header 'image_name,label'"):
        load_domain(str(tmp_path), "d", "train", 28)
    (tmp_path / "d" / "val.csv").write_text("image_name,label\nmissing.png,1\n")
    with pytest.raises(DataError, match="val.csv lists missing.png, not found in .*data; fix the CSV"):
        load_domain(str(tmp_path), "d", "val", 28)


def test_domain_pairs_keep_no_target_labels_and_cover_both_domains(digit_root):
    source = load_domain(str(digit_root), "mnistm", "train", 28)
    target = load_domain(str(digit_root), "usps", "val", 28)  # 40 images: cycled
    pairs = DomainPairs(source, target)
    assert len(pairs) == 160
    item = pairs[45]
    assert set(item) == {"image", "label", "target_image"}
    assert torch.equal(item["target_image"], target.images[5].float().div(127.5).sub(1))
    assert item["label"] == source.labels[45]


def test_image_folder_for_predict_uses_data_subfolder(digit_root):
    folder = load_image_folder(digit_root / "usps", 28)
    assert len(folder) == 200 and folder.names[:2] == ("00000.png", "00001.png")
    assert (folder.labels == -1).all()
