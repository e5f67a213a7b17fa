"""zoo from Python (zoo/api.py): the README's snippet as written, and the calls it stands for."""

import re
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from PIL import Image

import zoo
from conftest import PROJECT_ROOT
from conftest import zoo as zoo_cli
from zoo.errors import ConfigError, PluginError, WeightsError
from zoo.training import checkpoints

SMALL = {"data__image_size": 16, "model__base_channels": 8, "train__batch_size": 8, "train__sample_every": 0}


def readme_python_snippet() -> str:
    section = (PROJECT_ROOT / "README.md").read_text().split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_snippet_runs_as_written(tmp_path):
    snippet = readme_python_snippet()
    assert len(snippet.strip().splitlines()) < 10
    names = {}
    exec(compile(snippet, "README.md (From Python)", "exec"), names)
    run = names["run"]
    assert run == Path("runs/dcgan") and checkpoints.step_of(checkpoints.latest(run)) == 200
    assert names["model"].metadata["step"] == "200" and names["model"].metadata["plugin"] == "dcgan"
    images = names["images"]
    assert images.shape == (64, 3, 32, 32) and images.device.type == "cpu"
    assert images.min() >= -1 and images.max() <= 1
    assert Image.open("grid.png").size == (8 * 34 + 2, 8 * 34 + 2)  # 8 x 8 tiles of 32 px, 2 px padding


def test_train_takes_configs_and_overrides_as_the_cli_does(tmp_path):
    run = zoo.train("dcgan", "faces-cpu", out=tmp_path / "a", overrides={"train.steps": 2}, **SMALL)
    saved = (run / "config.yaml").read_text()
    assert "ema_decay: 0.999" in saved and "steps: 2\n" in saved and "base_channels: 8" in saved
    # A dict config, then resume the same run in the same process: 2 more steps.
    zoo.train("dcgan", [{"train": {"steps": 4}}], out=run, resume=True)
    assert checkpoints.step_of(checkpoints.latest(run)) == 4
    # The same --set values the command line takes, from Python values.
    cli = zoo_cli(
        "run",
        "dcgan",
        "--config",
        "faces-cpu",
        "--set",
        "train.steps=2",
        "--set",
        "data.image_size=16",
        "--set",
        "model.base_channels=8",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.sample_every=0",
        "--out",
        tmp_path / "b",
    )
    assert cli.exit_code == 0, cli.output
    assert (tmp_path / "b" / "config.yaml").read_text() == saved


def test_errors_are_zoos_one_line_errors(tmp_path):
    with pytest.raises(PluginError, match="unknown plugin 'dcgn'. Did you mean 'dcgan'"):
        zoo.train("dcgn")
    with pytest.raises(ConfigError, match="did you mean 'train.steps'"):
        zoo.train("dcgan", train__stepz=2, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="dcgan ships these configs"):
        zoo.train("dcgan", "face-cpu")
    assert not (tmp_path / "run").exists()
    with pytest.raises(WeightsError):
        zoo.load(tmp_path / "missing.safetensors")


def test_load_gives_the_plugin_ready_for_inference_and_pictures(tmp_path):
    run = zoo.train("dcgan", out=tmp_path / "run", train__steps=2, **SMALL)
    model = zoo.load(zoo.export(run, tmp_path / "folder"), device="cpu")  # a model folder this time
    assert not any(module.training for module in model.modules.values())
    images = model.generate(5, seed=1)
    assert torch.equal(images, model.generate(5, seed=1))
    pictures = zoo.to_pil(images)
    assert len(pictures) == 5 and pictures[0].size == (16, 16) and pictures[0].mode == "RGB"
    assert zoo.grid(images, nrow=5).size == (5 * 18 + 2, 18 + 2)
    assert set(dir(zoo)) >= {"train", "load", "export", "to_pil", "grid", "save_grid", "__version__"}


def test_version_names_zoo_its_libraries_and_every_plugin():
    shown = zoo_cli("--version")
    assert shown.exit_code == 0
    rows = dict(line.removeprefix("plugin ").split(None, 1) for line in shown.output.splitlines())
    assert rows["zoo"] == zoo.__version__ and rows["torch"] == version("torch")
    assert rows["accelerate"] == version("accelerate") and rows["diffusers"] == version("diffusers")
    assert rows["dcgan"] == rows["ddpm_unet"] == f"zoo {zoo.__version__}"
