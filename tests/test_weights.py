"""Export -> sample round trips, refusing bad weight files, HW2 file naming."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from conftest import reset_accelerate, train_tiny, zoo
from zoo.viz import hw2_names


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exported")
    train_tiny(tmp / "run", 2)
    result = zoo("export", tmp / "run", "--out", tmp / "dcgan.safetensors")
    assert result.exit_code == 0, result.output
    reset_accelerate()
    return tmp / "dcgan.safetensors", tmp / "run"


def read_pngs(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.iterdir())}


def test_hw2_names():
    assert hw2_names(3) == ["0000.png", "0001.png", "0002.png"]
    assert hw2_names(1000)[-1] == "0999.png"
    assert hw2_names(10001)[-1] == "10000.png"


def test_export_then_sample_is_bit_identical_to_the_run_and_to_itself(exported, tmp_path):
    weights, run = exported
    assert zoo("sample", "dcgan", "--weights", weights, "-n", 5, "--seed", 3, "--out", tmp_path / "a").exit_code == 0
    assert (
        zoo("sample", "--weights", weights, "-n", 5, "--seed", 3, "--out", tmp_path / "b", "--batch-size", 2).exit_code
        == 0
    )
    a, b = read_pngs(tmp_path / "a"), read_pngs(tmp_path / "b")
    assert list(a) == ["0000.png", "0001.png", "0002.png", "0003.png", "0004.png"]
    assert all(np.array_equal(a[k], b[k]) for k in a)  # same seed, any batch size: same files
    assert a["0000.png"].shape == (16, 16, 3)

    # The same images straight from the run's checkpoint, without the exported file.
    from zoo.registry import Registry
    from zoo.runs.folders import read_run_config
    from zoo.training import checkpoints
    from zoo.viz import to_uint8

    spec, saved = read_run_config(run, Registry.discover())
    plugin = spec.build(spec.config(files=[saved]))
    plugin.modules["generator"].load_state_dict(checkpoints.load(checkpoints.latest(run)).modules["generator"])
    direct = to_uint8(plugin.generate(5, seed=3)).numpy()
    assert all(np.array_equal(direct[i], a[name]) for i, name in enumerate(a))

    zoo("sample", "--weights", weights, "-n", 5, "--seed", 4, "--out", tmp_path / "c")
    assert not np.array_equal(read_pngs(tmp_path / "c")["0000.png"], a["0000.png"])


def test_grid_of_the_first_32(exported, tmp_path):
    weights, _ = exported
    result = zoo("sample", "dcgan", "--weights", weights, "-n", 32, "--grid", tmp_path / "first32.png")
    assert result.exit_code == 0, result.output
    grid = Image.open(tmp_path / "first32.png")
    assert grid.size == (2 + 8 * 18, 2 + 4 * 18)  # 8 x 4 tiles of 16px with 2px padding


def test_exported_file_is_readable_by_others_like_any_new_file(exported):
    import os
    import stat

    weights, _ = exported
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(weights.stat().st_mode) == 0o666 & ~umask


def test_metadata_rebuilds_the_model_alone(exported):
    from safetensors import safe_open

    weights, _ = exported
    with safe_open(str(weights), "pt") as f:
        meta = f.metadata()
        keys = list(f.keys())
    assert meta["plugin"] == "dcgan" and meta["family"] == "generator" and meta["step"] == "2"
    assert json.loads(meta["config"])["data"]["image_size"] == 16
    assert keys and all(k.startswith("generator.") for k in keys)  # the discriminator is not shipped


def refused(*args):
    result = zoo(*args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    return result.output


def test_bad_weight_files_are_refused_with_one_line(exported, tmp_path):
    weights, _ = exported
    out = tmp_path / "out"
    assert "not found" in refused("sample", "--weights", tmp_path / "nope.safetensors", "--out", out)

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(weights.read_bytes()[:-1000])
    assert "not a readable .safetensors file" in refused("sample", "--weights", truncated, "--out", out)

    pickle = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, pickle)
    assert "not a readable .safetensors file" in refused("sample", "--weights", pickle, "--out", out)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    assert "not one written by `zoo export`" in refused("sample", "--weights", foreign, "--out", out)

    assert "holds weights for plugin 'dcgan', not 'sagan'" in refused(
        "sample", "sagan", "--weights", weights, "--out", out
    )
    assert not out.exists()


def test_weights_that_do_not_fit_their_config_are_refused(exported, tmp_path):
    from safetensors import safe_open

    weights, _ = exported
    with safe_open(str(weights), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    config["model"]["base_channels"] = 16
    save_file(tensors, str(tmp_path / "mismatch.safetensors"), metadata={**meta, "config": json.dumps(config)})
    assert "does not fit the model" in refused(
        "sample", "--weights", tmp_path / "mismatch.safetensors", "--out", tmp_path / "o"
    )

    config["model"]["renamed_key"] = 1
    save_file(tensors, str(tmp_path / "newer.safetensors"), metadata={**meta, "config": json.dumps(config)})
    assert "does not fit this version" in refused(
        "sample", "--weights", tmp_path / "newer.safetensors", "--out", tmp_path / "o"
    )


def test_zoo_is_a_real_command(tmp_path):
    """The installed console script and `python -m zoo`, as a user runs them."""
    run = tmp_path / "run"
    args = [
        "run",
        "dcgan",
        "--set",
        "data.image_size=16",
        "--set",
        "model.base_channels=8",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.steps=2",
        "--out",
        str(run),
    ]
    done = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "done: step 2" in done.stdout
    zoo_script = Path(sys.executable).with_name("zoo")  # the console script pip installed beside python
    listed = subprocess.run([str(zoo_script), "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "dcgan" in listed.stdout
    bad = subprocess.run(
        [str(zoo_script), "run", "dcgan", "--set", "train.step=3"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == "Error: unknown config key 'train.step'; did you mean 'train.steps'?"


def rewritten(weights, to, metadata=None, config=None):
    """A copy of an exported file with its metadata (or config) changed."""
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    if config is not None:
        meta["config"] = json.dumps(config(json.loads(meta["config"])))
    save_file(tensors, str(to), metadata={**meta, **(metadata or {})})
    return to


def test_model_folder_in_the_hugging_face_layout_loads_by_path(exported, tmp_path):
    _, run = exported
    folder = tmp_path / "models" / "dcgan"
    result = zoo("export", run, "--out", folder)
    assert result.exit_code == 0 and "model folder" in result.output, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]
    card = json.loads((folder / "config.json").read_text())
    assert card["plugin"] == "dcgan" and card["config"]["model"]["base_channels"] == 8 and card["image_size"] == "16"

    assert zoo("sample", "--weights", folder, "-n", 4, "--out", tmp_path / "a").exit_code == 0
    assert zoo("sample", "--weights", folder / "model.safetensors", "-n", 4, "--out", tmp_path / "b").exit_code == 0
    a, b = read_pngs(tmp_path / "a"), read_pngs(tmp_path / "b")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert "dcgan (generator)" in zoo("inspect", folder).output

    # config.json is the folder's config: an edit that does not fit the weights is caught, and named.
    card["config"]["model"]["base_channels"] = 16
    (folder / "config.json").write_text(json.dumps(card))
    assert "does not fit the model" in refused("sample", "--weights", folder, "--out", tmp_path / "c")
    (folder / "config.json").write_text("{not json")
    assert "config.json is not a zoo model config" in refused("sample", "--weights", folder, "--out", tmp_path / "c")
    (folder / "model.safetensors").unlink()
    assert "without model.safetensors" in refused("sample", "--weights", folder, "--out", tmp_path / "c")


def test_hub_id_without_network_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what no network looks like, without waiting for timeouts
    monkeypatch.chdir(tmp_path)
    message = refused("sample", "--weights", "someone/dcgan-faces", "--out", tmp_path / "o")
    assert "Hugging Face Hub" in message and "pass its path" in message


def test_files_from_other_versions_say_which_and_what_to_do(exported, tmp_path):
    weights, _ = exported
    newer_format = rewritten(weights, tmp_path / "v2.safetensors", {"format": "zoo.weights.v2", "zoo_version": "1.4.0"})
    message = refused("sample", "--weights", newer_format, "--out", tmp_path / "o")
    assert "format zoo.weights.v2, written by zoo 1.4.0" in message and "zoo.weights.v1" in message

    old_plugin = rewritten(weights, tmp_path / "old.safetensors", {"plugin_version": "0.0.3"})
    result = zoo("sample", "--weights", old_plugin, "-n", 2, "--out", tmp_path / "o")
    assert result.exit_code == 0  # the weights still fit: it works, with a warning that names both versions
    assert "warning:" in result.output and "dcgan 0.0.3" in result.output and "is installed" in result.output

    old_and_broken = rewritten(
        weights,
        tmp_path / "old-broken.safetensors",
        {"plugin_version": "0.0.3"},
        config=lambda c: {**c, "model": {**c["model"], "base_channels": 16}},
    )
    message = refused("sample", "--weights", old_and_broken, "--out", tmp_path / "o2")
    assert "does not fit the model" in message and "written by dcgan 0.0.3" in message

    unknown = rewritten(weights, tmp_path / "unknown.safetensors", {"plugin": "stylegan9"})
    assert "no such plugin is installed" in refused("sample", "--weights", unknown, "--out", tmp_path / "o3")
    assert "no 'stylegan9' plugin here" in zoo("inspect", unknown).output
