"""Where plugins come from: the built-ins in registry.yaml and packages in the `zoo.plugins` group.

Both kinds become a `PluginSpec` and are treated alike. Nothing is imported until a plugin is
used, and a plugin that fails to import is reported (`zoo list` shows the error), never fatal to
the others.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path

import zoo
from zoo.config import Config, plugin_defaults, read_yaml, resolve
from zoo.errors import PluginError
from zoo.interfaces import FAMILIES, Plugin

ENTRY_POINT_GROUP = "zoo.plugins"
# The built-in registry sits at the top of the source tree, beside zoo/ and plugins/.
BUILTIN_REGISTRY = Path(__file__).resolve().parent.parent / "registry.yaml"


@dataclass
class PluginSpec:
    name: str
    target: str  # "package.module:ClassName"
    source: str  # "built-in" or "<distribution> <version>"
    family: str | None = None  # known before import for built-ins, after it for packages
    summary: str = ""
    config_path: Path | None = None
    version: str = zoo.__version__
    clash: list[str] = field(default_factory=list)  # other sources claiming the same name

    @cached_property
    def plugin_class(self) -> type[Plugin]:
        """Import the plugin; a PluginError says why it cannot be used."""
        if self.clash:
            raise PluginError(
                f"plugin name '{self.name}' is claimed by several sources: "
                f"{', '.join([self.source, *self.clash])}; uninstall one of them"
            )
        module_name, _, attr = self.target.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # any import-time failure of a plugin is reported, not raised raw
            error = PluginError(f"plugin '{self.name}' ({self.target}) failed to load: {type(exc).__name__}: {exc}"
                                f"{failing_line(exc, module_name)}")
            error.details = "".join(traceback.format_exception(exc))
            raise error from exc
        if not (inspect.isclass(obj) and issubclass(obj, Plugin) and getattr(obj, "family", None) in FAMILIES):
            raise PluginError(
                f"plugin '{self.name}' ({self.target}) is not a Generator, Sampler, Classifier or Adapter subclass"
            )
        if self.family is not None and obj.family != self.family:
            raise PluginError(f"plugin '{self.name}' is registered as a {self.family} but {self.target} is a {obj.family}")
        self.family = obj.family
        # The plugin's own summary or docstring, never one inherited from the class it extends.
        own_doc = inspect.cleandoc(obj.__doc__ or "").split("\n")[0] if "__doc__" in vars(obj) else ""
        self.summary = self.summary or vars(obj).get("summary") or own_doc
        if self.config_path is None:
            beside = Path(inspect.getfile(obj)).with_name("default.yaml")
            self.config_path = beside if beside.is_file() else None
        return obj

    @property
    def load_error(self) -> str | None:
        try:
            self.plugin_class
        except PluginError as exc:
            return str(exc)
        return None

    def defaults(self) -> dict:
        self.plugin_class  # fills config_path for packages
        return plugin_defaults(self.config_path)

    def config(self, files=(), overrides=()) -> Config:
        defaults = self.defaults()
        return resolve(defaults, files, overrides, plugin_name=self.name, origin=str(self.config_path or "a default.yaml beside the plugin's module"))

    def build(self, config: Config) -> Plugin:
        plugin = self.plugin_class(config)
        plugin.registered_name = self.name  # for messages that name the plugin as users know it
        return plugin


def failing_line(exc: BaseException, module_name: str) -> str:
    """' (at FILE:LINE: statement)' for the statement that raised, preferring the innermost frame in
    the plugin's own package; '' when the traceback says nothing useful."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {_short_path(exc.filename)}:{exc.lineno}: {(exc.text or '').strip()})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if not frames:
        return ""
    package = module_name.split(".")[0]
    own = [f for f in frames if f"{os.sep}{package}{os.sep}" in f.filename or f.filename.endswith(f"{os.sep}{package}.py")]
    frame = (own or frames)[-1]
    return f" (at {_short_path(frame.filename)}:{frame.lineno}: {(frame.line or '').strip()})"


def _short_path(path: str) -> str:
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _builtin_specs(path: Path) -> list[PluginSpec]:
    if not path.is_file():
        raise PluginError(f"built-in registry not found at {path}; install zoo with `pip install -e .` from its source tree")
    specs = []
    for name, entry in read_yaml(path).items():
        config = entry.get("config")
        specs.append(
            PluginSpec(
                name=name,
                target=entry["object"],
                source="built-in",
                family=entry.get("family"),
                summary=entry.get("summary", ""),
                config_path=(path.parent / config) if config else None,
            )
        )
    return specs


def _entry_point_specs() -> list[PluginSpec]:
    specs = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        source = f"{dist.name} {dist.version}" if dist else "entry point"
        version = dist.version if dist else "unknown"
        specs.append(PluginSpec(name=ep.name, target=ep.value, source=source, version=version))
    return specs


class Registry:
    def __init__(self, specs: list[PluginSpec]):
        self._specs: dict[str, PluginSpec] = {}
        for spec in specs:
            first = self._specs.get(spec.name)
            if first is None:
                self._specs[spec.name] = spec
            elif first.source != spec.source:
                first.clash.append(spec.source)

    @classmethod
    def discover(cls, builtin_registry: Path = BUILTIN_REGISTRY) -> "Registry":
        return cls(_builtin_specs(builtin_registry) + _entry_point_specs())

    def names(self) -> list[str]:
        return sorted(self._specs)

    def specs(self) -> list[PluginSpec]:
        return [self._specs[name] for name in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def get(self, name: str) -> PluginSpec:
        if name not in self._specs:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise PluginError(f"unknown plugin '{name}'.{hint} Available: {', '.join(self.names()) or 'none'}")
        return self._specs[name]

