import pytest

from conftest import PROJECT_ROOT
from zoo.config import dump, plugin_defaults, read_yaml, resolve
from zoo.errors import ConfigError
from zoo.registry import Registry


@pytest.fixture
def defaults():
    return Registry.discover().get("dcgan").defaults()


def test_defaults_merge_framework_and_plugin_keys(defaults):
    config = resolve(defaults)
    assert config.train.mixed_precision == "no"  # quoted in YAML: a bare `no` would be False
    assert config.model.latent_dim == 32  # from the plugin's default.yaml
    assert config.data.image_size == 32  # plugin value wins over the framework's 64
    assert plugin_defaults(None)["data"]["image_size"] == 64


def test_overrides_are_typed_by_their_defaults(defaults):
    config = resolve(defaults, overrides=["train.steps=7", "optim.lr_g=1e-3", "train.ema_decay=1", "data.root=2024"])
    assert config.train.steps == 7
    assert config.optim.lr_g == pytest.approx(1e-3)
    assert config.train.ema_decay == 1.0 and isinstance(config.train.ema_decay, float)
    assert config.data.root == "2024"  # strings stay strings
    assert resolve(defaults, overrides=["train.mixed_precision=no"]).train.mixed_precision == "no"


def test_unknown_key_names_the_closest_valid_one(defaults):
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.step'.*'train\.steps'"):
        resolve(defaults, overrides=["train.step=3"])
    with pytest.raises(ConfigError, match=r"'trian\.steps'.*did you mean 'train'"):
        resolve(defaults, overrides=["trian.steps=3"])
    with pytest.raises(ConfigError, match=r"'data\.imagesize'.*'data\.image_size'"):
        resolve(defaults, files=[{"data": {"imagesize": 64}}])


def test_wrong_types_and_malformed_overrides_are_refused(defaults):
    with pytest.raises(ConfigError, match=r"train\.steps' expects an integer, got 'many'"):
        resolve(defaults, overrides=["train.steps=many"])
    with pytest.raises(ConfigError, match="expects an integer, got True"):
        resolve(defaults, files=[{"train": {"steps": True}}])
    with pytest.raises(
        ConfigError,
        match=r"expects an integer, got 0.5 \(its default, 1, is written as an integer: "
        r"write it as 1.0 in the defaults for the key to take fractions\)",
    ):
        resolve({**defaults, "coral": {"weight": 1}}, overrides=["coral.weight=0.5"])
    with pytest.raises(ConfigError, match="key=value"):
        resolve(defaults, overrides=["train.steps"])
    with pytest.raises(ConfigError, match="is a section"):
        resolve(defaults, overrides=["train=3"])


def test_config_file_for_another_plugin_is_refused(defaults):
    with pytest.raises(ConfigError, match="for plugin 'sagan', not 'dcgan'"):
        resolve(defaults, files=[{"plugin": "sagan"}], plugin_name="dcgan")


def test_dumped_config_reads_back_identically(defaults, tmp_path):
    config = resolve(defaults, overrides=["train.steps=9", "train.mixed_precision=bf16"])
    path = tmp_path / "config.yaml"
    path.write_text(dump(config, "dcgan"))
    again = resolve(defaults, files=[read_yaml(path)], plugin_name="dcgan")
    assert again.to_dict() == config.to_dict()


def test_bad_yaml_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(path)
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")


def test_every_config_file_a_plugin_ships_names_only_keys_it_knows():
    # plugins/dann/svhn.yaml and the like are read only when a user or a study passes them: a typo in
    # one (augment_targt) would surface as a failed run hours into `zoo benchmark dann --study`.
    registry = Registry.discover()
    shipped = [
        path for path in sorted((PROJECT_ROOT / "plugins").glob("*/*.yaml")) if path.parent.name in registry.names()
    ]
    assert any(path.name == "svhn.yaml" for path in shipped)
    for path in shipped:
        registry.get(path.parent.name).config([read_yaml(path)])  # raises ConfigError on an unknown key
