"""Built-ins from registry.yaml, third-party plugins through a real `zoo.plugins` entry point."""

import pytest

from conftest import TINY, TOY_PLUGIN, write_distribution, zoo
from zoo.errors import PluginError
from zoo.interfaces import Generator
from zoo.registry import Registry


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
    assert spec.source == "zoo 0.1.0" and spec.builtin and spec.family == "generator"
    assert not spec.loaded  # nothing imported yet
    assert issubclass(spec.plugin_class, Generator)


def test_a_shipped_config_is_named_from_any_folder(tmp_path):
    spec = Registry.discover().get("dcgan")
    assert spec.config_file("faces-cpu") == spec.config_file("faces-cpu.yaml") == spec.folder / "faces-cpu.yaml"
    # The source-tree paths of the README work from outside the checkout (the tests run in tmp_path).
    assert spec.config_file("plugins/dcgan/faces.yaml") == spec.folder / "faces.yaml"
    own = tmp_path / "faces-cpu.yaml"
    own.write_text("train: {steps: 5}\n")
    assert spec.config_file("faces-cpu.yaml").resolve() == own  # a file that exists comes first
    shown = zoo("describe", "dcgan", "--config", "faces", "--set", "model.base_channels=4")
    assert shown.exit_code == 0 and "configs (--config NAME): default, faces-cpu, faces" in shown.output
    assert "image_size: 64" in shown.output  # faces.yaml was applied
    missing = zoo("run", "dcgan", "--config", "face-cpu", "--out", tmp_path / "run")
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert (
        "config file not found: face-cpu; dcgan ships these configs, which --config takes by name: default, "
        "faces-cpu, faces" in missing.output
    )
    assert not (tmp_path / "run").exists()


def test_unknown_name_lists_what_exists():
    with pytest.raises(PluginError, match=r"unknown plugin 'dcgn'\. Did you mean 'dcgan'\? Available: .*dcgan"):
        Registry.discover().get("dcgn")


def test_entry_point_plugin_is_treated_like_a_builtin(third_party):
    spec = Registry.discover().get("toy")
    assert spec.source == "zoo-toy 0.3" and not spec.builtin
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
    with pytest.raises(PluginError, match="claimed by several sources: zoo 0.1.0, zoo-toy 0.3"):
        spec.load()
    result = zoo("run", "dcgan", "--out", third_party / "run")
    assert result.exit_code == 1 and "claimed by several sources" in result.output


def test_third_party_plugin_trains_through_the_cli(third_party, tmp_path):
    result = zoo("run", "toy", *TINY, "--set", "train.steps=2", "--out", tmp_path / "toy-run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "toy-run" / "checkpoints" / "step_000002").is_dir()


# --- errors a plugin author can act on --------------------------------------------------------------
def _author_plugin(tmp_path, monkeypatch, module: str, yaml: str) -> None:
    """Plugin 'author' in a package of its own per test (an imported package stays in sys.modules)."""
    package = f"author_gan_{tmp_path.name.replace('-', '_')}"
    write_distribution(
        tmp_path,
        "zoo-author",
        {"author": f"{package}:AuthorGAN"},
        {f"{package}/__init__.py": module, f"{package}/default.yaml": yaml},
    )
    monkeypatch.syspath_prepend(str(tmp_path))


AUTHOR_GAN = TOY_PLUGIN["toy_gan/__init__.py"].replace("ToyGAN", "AuthorGAN")


def test_a_typo_in_a_plugins_framework_keys_names_the_file_and_the_key(tmp_path, monkeypatch):
    _author_plugin(
        tmp_path,
        monkeypatch,
        AUTHOR_GAN,
        TOY_PLUGIN["toy_gan/default.yaml"].rstrip() + "\n        train: {sample_evry: 100}\n",
    )
    result = zoo("run", "author", "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert "/default.yaml: unknown key 'train.sample_evry'; did you mean 'train.sample_every'?" in result.output
    assert not (tmp_path / "run").exists()


def test_a_plugins_own_data_key_is_not_a_typo(tmp_path, monkeypatch):
    _author_plugin(
        tmp_path,
        monkeypatch,
        AUTHOR_GAN,
        TOY_PLUGIN["toy_gan/default.yaml"].rstrip() + "\n        data: {domain: usps}\n",
    )
    assert Registry.discover().get("author").config().data.domain == "usps"


def test_a_key_the_plugin_reads_but_no_yaml_defines_names_its_yaml(tmp_path, monkeypatch):
    module = (
        AUTHOR_GAN
        + """
            def build_modules(self):
                self.config.model.latent_dm
    """
    )
    _author_plugin(tmp_path, monkeypatch, module, TOY_PLUGIN["toy_gan/default.yaml"])
    result = zoo("run", "author", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "reads config key 'model.latent_dm', which no config defines (did you mean 'model.latent_dim'?)"
        in result.output
    )
    assert "give it a default in " in result.output and f"{tmp_path.name}/default.yaml" in " ".join(
        result.output.split()
    )


def test_an_import_error_shows_the_failing_line_and_the_traceback_on_request(tmp_path, monkeypatch):
    module = "\n        settings = {'a': 1}\n        width = settings['b']\n"
    _author_plugin(tmp_path, monkeypatch, module, "")
    listing = zoo("list").output
    line = next(line for line in listing.splitlines() if line.startswith("author"))
    assert "BROKEN" in line and "KeyError: 'b'" in line and "/__init__.py:3: width = settings['b']" in line
    described = zoo("describe", "author")
    assert described.exit_code == 1 and "Traceback (most recent call last)" in described.output
    debug = zoo("--debug", "run", "author")
    assert (
        debug.exit_code == 1 and "Traceback (most recent call last)" in debug.output and "KeyError: 'b'" in debug.output
    )
    assert "Traceback" not in zoo("run", "author").output  # one line without --debug


def test_a_plugin_class_missing_a_family_method_is_one_line(tmp_path, monkeypatch):
    module = """
        import torch
        from zoo.interfaces import Classifier

        class AuthorGAN(Classifier):
            \"\"\"Forgot predict and embed.\"\"\"
            def build_modules(self):
                return {"net": torch.nn.Linear(2, 2)}
            def training_step(self, batch, step):
                return {}
    """
    _author_plugin(tmp_path, monkeypatch, module, "")
    line = next(line for line in zoo("list").output.splitlines() if line.startswith("author"))
    assert (
        "BROKEN" in line
        and "does not define configure_optimizers, embed, predict, train_dataset, which every classifier must" in line
    )
    result = zoo("run", "author", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "(zoo.interfaces.Classifier says what each returns)" in result.output


def test_a_gan_that_builds_other_modules_is_told_which_it_must_build(tmp_path, monkeypatch):
    module = (
        AUTHOR_GAN
        + """
            def build_modules(self):
                modules = super().build_modules()
                return {"gen": modules["generator"], "disc": modules["discriminator"]}
    """
    )
    _author_plugin(tmp_path, monkeypatch, module, TOY_PLUGIN["toy_gan/default.yaml"])
    result = zoo("run", "author", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "AuthorGAN.build_modules() returned ['disc', 'gen']; it must build ['discriminator', 'generator'] "
        "(the modules zoo.gan.GAN trains and exports by name)"
    ) in " ".join(result.output.split())


def test_a_plugin_whose_default_yaml_does_not_load_is_listed_as_broken(tmp_path, monkeypatch):
    _author_plugin(tmp_path, monkeypatch, AUTHOR_GAN, "model: [unclosed\n")
    line = next(line for line in zoo("list").output.splitlines() if line.startswith("author"))
    assert "BROKEN" in line and "default.yaml is not valid YAML" in line


def test_a_plugin_written_against_a_renamed_hook_is_told_the_new_name(tmp_path, monkeypatch):
    """configure_schedulers became configure_lr_schedulers: an old plugin fails loudly at load, rather
    than training silently without its learning-rate schedule."""
    write_distribution(
        tmp_path,
        "zoo-old",
        {"old": "old_gan:OldGAN"},
        {
            "old_gan.py": '''
        from zoo.plugins.dcgan.plugin import DCGAN

        class OldGAN(DCGAN):
            """A GAN with a learning-rate schedule under the hook's old name."""

            def configure_schedulers(self, optimizers):
                return {}
    ''',
            "default.yaml": TOY_PLUGIN["toy_gan/default.yaml"],
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    error = Registry.discover().get("old").load_error
    assert "defines configure_schedulers, which zoo 0.1 calls configure_lr_schedulers" in error
