"""zoo as its users install it without a source tree: the wheel built from this checkout, installed
(not editable) into a fresh virtualenv and used from a folder outside the checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT
from virtualenvs import fresh_venv, run
from zoo.registry import Registry

TINY = [
    "--set",
    "data.image_size=16",
    "--set",
    "model.base_channels=8",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.sample_every=0",
]


def build_wheel(where: Path) -> Path:
    """The wheel of what git would commit here (tracked and new files, not ignored ones), built from a
    copy so that the build's own leftovers (build/, *.egg-info) stay out of the checkout."""
    source = where / "source"
    source.mkdir()
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (PROJECT_ROOT / name).is_file():  # a file deleted but not yet staged is still listed
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    run(
        Path(sys.executable),
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        where / "dist",
        source,
        cwd=where,
    )
    (wheel,) = (where / "dist").glob("zoo-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    where = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(where)
    python = fresh_venv(where / "venv", with_this_zoo=False)
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=where)
    elsewhere = where / "elsewhere"
    elsewhere.mkdir()
    return wheel, python, elsewhere


def test_the_wheel_holds_zoo_alone_with_its_builtins_and_their_configs(wheel_env):
    wheel, _, _ = wheel_env
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"zoo", wheel.name.split("-py")[0] + ".dist-info"}
    assert "zoo/registry.yaml" in names
    for name in Registry.discover().names():
        assert f"zoo/plugins/{name}/default.yaml" in names
    assert "zoo/plugins/dcgan/faces-cpu.yaml" in names


def test_the_installed_wheel_imports_from_its_own_site_packages(wheel_env):
    _, python, elsewhere = wheel_env
    shown = run(
        python,
        "-c",
        "import importlib.util, zoo.plugins, zoo.registry as r; "
        "print(zoo.plugins.__file__); print(r.builtin_registry_path()); "
        "print(importlib.util.find_spec('plugins'))",
        cwd=elsewhere,
    ).split("\n")
    venv = str(python.parent.parent)
    assert shown[0].startswith(venv) and shown[0].endswith("zoo/plugins/__init__.py")
    assert shown[1].startswith(venv) and shown[1].endswith("zoo/registry.yaml")
    assert shown[2] == "None"  # nothing named `plugins` at the top of site-packages


def test_a_wheel_user_lists_trains_exports_and_samples_from_any_folder(wheel_env):
    _, python, elsewhere = wheel_env
    zoo = python.parent / "zoo"  # the console script the wheel installs
    listing = run(zoo, "list", cwd=elsewhere)
    rows = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert set(rows) == set(Registry.discover().names()), listing
    assert not [row for row in rows.values() if "BROKEN" in row], listing
    assert all(row.split()[2:4] == ["zoo", "0.1.0"] for row in rows.values()), listing

    described = run(zoo, "describe", "dcgan", cwd=elsewhere)
    assert "configs (--config NAME): default, faces-cpu, faces" in described

    # A shipped config by name, from a folder with no plugins/ in it.
    run(zoo, "run", "dcgan", "--config", "faces-cpu", *TINY, "--set", "train.steps=2", "--out", "run", cwd=elsewhere)
    assert "base_channels: 8" in (elsewhere / "run" / "config.yaml").read_text()
    assert "ema_decay: 0.999" in (elsewhere / "run" / "config.yaml").read_text()  # from faces-cpu.yaml
    run(zoo, "export", "run", "--out", "dcgan.safetensors", cwd=elsewhere)
    run(zoo, "sample", "--weights", "dcgan.safetensors", "-n", 3, "--out", "samples", cwd=elsewhere)
    assert sorted(p.name for p in (elsewhere / "samples").iterdir()) == ["0000.png", "0001.png", "0002.png"]

    run(
        zoo, "plugin", "new", "my_gan", "--family", "generator", "--dir", "authored", cwd=elsewhere
    )  # templates travel too
    assert (elsewhere / "authored" / "my_gan" / "pyproject.toml").is_file()
