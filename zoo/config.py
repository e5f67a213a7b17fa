"""Configs: framework defaults + a plugin's default.yaml, then a user's file and --set overrides.

The defaults are the schema: a key that is not in them is a typo (the error names the closest key),
and a value must have the type of its default. The resolved config is a read-only tree with
attribute access (`config.train.steps`).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ConfigError

FRAMEWORK_DEFAULTS = Path(__file__).with_name("defaults.yaml")
# A config file may name the plugin it belongs to (a run folder's config.yaml does).
PLUGIN_KEY = "plugin"


class MissingConfigKey(ConfigError, AttributeError):
    """Code read a key no config file defines. An AttributeError too, so `getattr(config, key, default)`
    and `hasattr` keep working."""


class Config(Mapping):
    """A read-only view of a nested config dict: `config.train.steps` or `config["train"]["steps"]`.

    `origin` names the file a plugin's keys belong in (its default.yaml), for the error a missing key gets.
    """

    def __init__(self, data: Mapping[str, Any], prefix: str = "", origin: str = ""):
        self._data = data
        self._prefix = prefix
        self._origin = origin

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return Config(value, f"{self._prefix}{key}.", self._origin) if isinstance(value, Mapping) else value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            dotted = f"{self._prefix}{key}"
            close = difflib.get_close_matches(key, list(self._data), n=1, cutoff=0.6)
            hint = f" (did you mean '{self._prefix}{close[0]}'?)" if close else ""
            home = self._origin or "the plugin's default.yaml"
            raise MissingConfigKey(
                f"the code reads config key '{dotted}', which no config defines{hint}; give it a default in {home}"
            ) from None

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self._data))

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}  # an empty file is an empty config
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, not a {type(data).__name__}")
    return data


def merge_defaults(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge a plugin's defaults into the framework's. Plugins may add keys; this is the schema."""
    merged = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_defaults(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def plugin_defaults(plugin_config_path: Path | None) -> dict[str, Any]:
    base = read_yaml(FRAMEWORK_DEFAULTS)
    if plugin_config_path is None:
        return base
    own = read_yaml(plugin_config_path)
    _check_framework_keys(base, own, plugin_config_path)
    return merge_defaults(base, own)


# Sections of zoo/defaults.yaml where a plugin may add keys of its own (dann's data.source/target);
# anywhere else in zoo's sections a key the framework does not have is a typo.
OPEN_SECTIONS = {"data"}


def _check_framework_keys(base: Mapping[str, Any], own: Mapping[str, Any], path: Path) -> None:
    """A plugin's default.yaml may change zoo's train.* / data.* values, not misspell them: a key
    zoo does not have under train, or one close to an existing key under data, names the file."""
    for section, keys in own.items():
        if section not in base or not isinstance(keys, Mapping) or not isinstance(base[section], Mapping):
            continue
        for key in keys:
            if key in base[section]:
                continue
            close = difflib.get_close_matches(key, list(base[section]), n=1, cutoff=0.75)
            if section in OPEN_SECTIONS and not close:
                continue  # the plugin's own data key
            hint = (
                f"did you mean '{section}.{close[0]}'?"
                if close
                else f"zoo's {section} keys: {', '.join(base[section])}"
            )
            raise ConfigError(
                f"{path}: unknown key '{section}.{key}'; {hint} (a plugin's own keys go in its own "
                f"sections, e.g. model.*)"
            )


def resolve(
    defaults: Mapping[str, Any],
    files: Iterable[Mapping[str, Any]] = (),
    overrides: Iterable[str] = (),
    plugin_name: str | None = None,
    origin: str = "",
) -> Config:
    """Apply config files (parsed dicts), then `key=value` overrides, checking every key and type."""
    resolved = copy.deepcopy(dict(defaults))
    for data in files:
        data = dict(data)
        named = data.pop(PLUGIN_KEY, None)
        if named is not None and plugin_name is not None and named != plugin_name:
            raise ConfigError(f"this config is for plugin '{named}', not '{plugin_name}'")
        _apply_tree(resolved, defaults, data, prefix="")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value (e.g. train.steps=2000), got '{item}'")
        _apply_override(resolved, defaults, key.strip(), raw)
    return Config(resolved, origin=origin)


def _apply_tree(target: dict, schema: Mapping, data: Mapping, prefix: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            raise _unknown_key(dotted, schema, prefix)
        if isinstance(schema[key], Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{dotted}' is a section; give it keys, not '{value}'")
            _apply_tree(target[key], schema[key], value, f"{dotted}.")
        else:
            target[key] = _checked(dotted, value, schema[key])


def _apply_override(target: dict, schema: Mapping, dotted: str, raw: str) -> None:
    *parents, leaf = dotted.split(".")
    prefix = ""
    for part in parents:
        if part not in schema or not isinstance(schema[part], Mapping):
            raise _unknown_key(f"{prefix}{part}", schema, prefix, full=dotted)
        schema, target, prefix = schema[part], target[part], f"{prefix}{part}."
    if leaf not in schema:
        raise _unknown_key(dotted, schema, prefix)
    default = schema[leaf]
    if isinstance(default, Mapping):
        raise ConfigError(
            f"'{dotted}' is a section; set one of its keys: {', '.join(prefix + leaf + '.' + k for k in default)}"
        )
    # Strings are taken verbatim so that e.g. `mixed_precision=no` or `root=2024` stay strings.
    value = raw if isinstance(default, str) else _parse_scalar(dotted, raw)
    target[leaf] = _checked(dotted, value, default)


def _parse_scalar(dotted: str, raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"cannot parse the value of {dotted}: '{raw}'") from None


_TYPE_NAMES = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list"}


def _checked(dotted: str, value: Any, default: Any) -> Any:
    if default is None:  # a null default accepts any value
        return value
    expected = type(default)
    if expected is float and isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; users mean the number.
        try:
            value = float(value)
        except ValueError:
            pass
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        want = _TYPE_NAMES.get(expected, expected.__name__)
        # A default written `1` makes the key an integer; a plugin author may have meant a number.
        hint = (
            (
                f" (its default, {default}, is written as an integer: write it as {default}.0 in the defaults "
                "for the key to take fractions)"
            )
            if expected is int and isinstance(value, float)
            else ""
        )
        raise ConfigError(f"config key '{dotted}' expects {want}, got {value!r}{hint}")
    return value


def _unknown_key(dotted: str, schema: Mapping, prefix: str, full: str | None = None) -> ConfigError:
    known = [f"{prefix}{k}" for k in schema]
    close = difflib.get_close_matches(dotted, known, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; keys here: {', '.join(known)}"
    return ConfigError(f"unknown config key '{full or dotted}'{hint}")


def dump(config: Config, plugin_name: str) -> str:
    return yaml.safe_dump({PLUGIN_KEY: plugin_name, **config.to_dict()}, sort_keys=False)
