"""Built-ins from registry.yaml, third-party plugins through a real `zoo.plugins` entry point."""

import textwrap

import pytest

from conftest import TINY, zoo
from zoo.errors import PluginError
from zoo.interfaces import Generator
from zoo.registry import Registry


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
        from plugins.dcgan.plugin import DCGAN

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


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    write_distribution(
        tmp_path,
        "zoo-toy",
        {"toy": "toy_gan:ToyGAN", "broken": "broken_plugin:Anything", "dcgan": "toy_gan:ToyGAN"},
        TOY_PLUGIN,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_are_listed_without_importing_them():
    spec = Registry.discover().get("dcgan")
    assert spec.source == "built-in" and spec.family == "generator"
    assert "plugin_class" not in vars(spec)  # nothing imported yet
    assert issubclass(spec.plugin_class, Generator)


def test_unknown_name_lists_what_exists():
    with pytest.raises(PluginError, match=r"unknown plugin 'dcgn'\. Did you mean 'dcgan'\? Available: .*dcgan"):
        Registry.discover().get("dcgn")


def test_entry_point_plugin_is_treated_like_a_builtin(third_party):
    spec = Registry.discover().get("toy")
    assert spec.source == "zoo-toy 0.3"
    assert spec.family is None  # unknown until imported, like any package plugin
    assert spec.plugin_class.__name__ == "ToyGAN" and spec.family == "generator"
    assert spec.summary == "A third-party GAN: DCGAN with its own defaults."
    assert spec.config().model.latent_dim == 16  # its own default.yaml, found beside its module
    assert spec.version == "0.3"


def test_broken_plugin_is_reported_not_fatal(third_party):
    registry = Registry.discover()
    assert "ModuleNotFoundError" in registry.get("broken").load_error
    assert registry.get("toy").load_error is None
    result = zoo("list")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "BROKEN" in lines["broken"] and "a_module_that_does_not_exist" in lines["broken"]
    assert "zoo-toy 0.3" in lines["toy"] and "generator" in lines["toy"]


def test_name_clash_names_both_sources(third_party):
    spec = Registry.discover().get("dcgan")
    with pytest.raises(PluginError, match="claimed by several sources: built-in, zoo-toy 0.3"):
        spec.plugin_class
    result = zoo("run", "dcgan", "--out", third_party / "run")
    assert result.exit_code == 1 and "claimed by several sources" in result.output


def test_third_party_plugin_trains_through_the_cli(third_party, tmp_path):
    result = zoo("run", "toy", *TINY, "--set", "train.steps=2", "--out", tmp_path / "toy-run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "toy-run" / "checkpoints" / "step_000002").is_dir()
