from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from zoo.cli import cli
from zoo.sharing.weights import load_tensors
from zoo.training import checkpoints

# A dcgan small enough to train a few steps in about a second.
TINY = (
    "--set",
    "data.image_size=16",
    "--set",
    "model.base_channels=8",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.log_every=1",
    "--set",
    "train.sample_every=0",
)

# A ddpm_unet that trains and samples in about a second.
TINY_DDPM = (
    "--set",
    "data.image_size=16",
    "--set",
    "model.channels=[8, 16]",
    "--set",
    "model.attention=[8]",
    "--set",
    "model.time_dim=16",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.log_every=1",
    "--set",
    "train.sample_every=0",
)


PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What pytest and Python themselves may leave in the project root.
TOOL_LEFTOVERS = {".pytest_cache", "__pycache__"}
# Folders the product writes into by default (--out defaults), which may already exist in a checkout.
DEFAULT_OUTPUTS = ("runs", "out", "benchmarks/results")


def project_listing() -> set[str]:
    """The project root's entries and those of its default output folders."""
    found = set(os.listdir(PROJECT_ROOT)) - TOOL_LEFTOVERS
    for folder in DEFAULT_OUTPUTS:
        if (PROJECT_ROOT / folder).is_dir():
            found |= {f"{folder}/{name}" for name in os.listdir(PROJECT_ROOT / folder)}
    return found


@pytest.fixture(scope="session", autouse=True)
def session_outside_the_project(tmp_path_factory):
    """Module- and session-scoped fixtures run before the per-test cwd below: they start elsewhere too."""
    with pytest.MonkeyPatch.context() as patch:
        where = tmp_path_factory.mktemp("cwd")
        patch.chdir(where)
        patch.setenv("XDG_CACHE_HOME", str(where / ".cache"))
        yield


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder, never in the project: a test that defaults to
    runs/NAME must not meet the user's own runs (or leave one behind), and caches (~/.cache/zoo/fid)
    start empty. Fails a test that still writes into the project root, for example through a path
    built from __file__."""
    before = project_listing()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    yield
    new = project_listing() - before
    assert not new, f"the test wrote {sorted(new)} into the project {PROJECT_ROOT}; write under tmp_path"


def reset_accelerate() -> None:
    """Accelerate keeps process-wide singletons: forget them, as a new process would start."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each test starts from a clean slate."""
    yield
    reset_accelerate()


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


def write_distribution(root, dist: str, entry_points: dict[str, str], modules: dict[str, str]):
    """An installed distribution as importlib.metadata sees it: a *.dist-info folder on sys.path."""
    info = root / f"{dist}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[zoo.plugins]\n{lines}\n")
    for relative, source in modules.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


TOY_PLUGIN = {
    "toy_gan/__init__.py": '''
        from zoo.plugins.dcgan.plugin import DCGAN

        class ToyGAN(DCGAN):
            """A third-party GAN: DCGAN with its own defaults."""
    ''',
    "toy_gan/default.yaml": """
        model: {latent_dim: 16, base_channels: 8}
        gan: {loss: bce, n_critic: 1}
        optim: {lr_g: 0.0002, lr_d: 0.0002, betas: [0.5, 0.999]}
    """,
    "broken_plugin.py": "import a_module_that_does_not_exist\n",
}


def final_state(run_dir):
    ckpt = checkpoints.latest(run_dir)
    tensors, _ = load_tensors(ckpt / "modules.safetensors")
    optim = torch.load(ckpt / "optimizers.pt", weights_only=True)
    return tensors, optim


def assert_same_tensors(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def face_root(where: Path, train: int = 24, val: int = 8, size: int = 20) -> Path:
    """An HW2-layout face folder of random images: face/train and face/val."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        (where / "face" / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                where / "face" / split / f"{i:04d}.png"
            )
    return where
