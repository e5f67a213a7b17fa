from __future__ import annotations

import numpy as np
import torch
import pytest
from click.testing import CliRunner
from PIL import Image

from zoo.cli import cli

# A dcgan small enough to train a few steps in about a second.
TINY = (
    "--set", "data.image_size=16",
    "--set", "model.base_channels=8",
    "--set", "train.batch_size=8",
    "--set", "train.log_every=1",
    "--set", "train.sample_every=0",
)


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; each test starts from a clean slate."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def zoo(*args: str):
    """Run the CLI in-process; returns click's Result (exit_code, output)."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def train_tiny(run_dir, steps: int, *extra: str):
    result = zoo("run", "dcgan", *TINY, "--set", f"train.steps={steps}", "--out", run_dir, *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def image_folder(tmp_path):
    """24 small non-square RGB PNGs."""
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (20, 26, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def write_hw2_domain(folder, images, labels, split_at: int):
    """An HW2-layout domain: data/*.png, train.csv (the first split_at images), val.csv (the rest)."""
    (folder / "data").mkdir(parents=True)
    rows = []
    for i, (pixels, label) in enumerate(zip(images, labels)):
        name = f"{i:05d}.png"
        Image.fromarray(pixels).save(folder / "data" / name)
        rows.append(f"{name},{label}\n")
    (folder / "train.csv").write_text("image_name,label\n" + "".join(rows[:split_at]))
    (folder / "val.csv").write_text("image_name,label\n" + "".join(rows[split_at:]))


@pytest.fixture(scope="session")
def digit_root(tmp_path_factory):
    """Two real-digit domains in the HW2 layout: 'mnistm' (coloured, RGB) and 'usps' (grey, one channel).

    Made from scikit-learn's digits, 160 + 40 images each, no image in both domains.
    """
    from zoo.data.embedded import mnistm_style_digits

    root = tmp_path_factory.mktemp("digits")
    images, labels = mnistm_style_digits(28)
    colour = images[:200].permute(0, 2, 3, 1).numpy()
    grey = images[200:400].float().mean(1).round().to(torch.uint8).numpy()
    write_hw2_domain(root / "mnistm", colour, labels[:200].tolist(), 160)
    write_hw2_domain(root / "usps", grey, labels[200:400].tolist(), 160)
    return root
