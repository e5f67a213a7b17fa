from __future__ import annotations

import numpy as np
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
