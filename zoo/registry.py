"""Where plugins come from: the built-ins in registry.yaml and packages in the `zoo.plugins` group.

Both kinds become a `PluginSpec` and are treated alike. Nothing is imported until a plugin is
used, and a plugin that fails to import is reported (`zoo list` shows the error), never fatal to
the others.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from zoo.config import Config, plugin_defaults, read_yaml, resolve
from zoo.errors import ConfigError, PluginError, ZooError
from zoo.interfaces import FAMILIES, Plugin
from zoo.version import VERSION

ENTRY_POINT_GROUP = "zoo.plugins"
BUILTINS_PACKAGE = "zoo.plugins"  # the repository's plugins/ folder, installed under zoo's own name (setup.py)
# Hooks that were renamed, so that a plugin written against the old name fails loudly, not silently.
RENAMED_HOOKS = {"configure_schedulers": "configure_lr_schedulers", "schedulers": "noise_schedulers"}


def builtin_registry_path() -> Path:
    """registry.yaml, the list of built-ins. It sits beside the built-ins' folder: at the top of a
    source tree (an editable install), beside zoo/plugins/ in a wheel (setup.py copies it there)."""
    found = importlib.util.find_spec(BUILTINS_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise PluginError(
            f"the built-in plugins ({BUILTINS_PACKAGE}) are not installed; "
            "reinstall zoo (`pip install -e .` in its source tree, or its wheel)"
        )
    return Path(next(iter(found.submodule_search_locations))).parent / "registry.yaml"


@dataclass
class PluginSpec:
    """One plugin as the registry knows it, before and after its import.

    Listing plugins imports none of them: `family` and `summary` come from registry.yaml for
    built-ins. `load()` imports the class once (a PluginError says why it cannot be used); what only
    the class can tell (a package's family and summary, the default.yaml beside its module) is read
    from it, through the properties below, once it is loaded.
    """

    name: str
    target: str  # "package.module:ClassName"
    source: str  # "<distribution> <version>", for built-ins and packages alike: "zoo 0.1.0", "zoo-lsgan 0.1.0"
    registered_family: str | None = None  # what registry.yaml says; None for packages
    registered_summary: str = ""
    version: str = VERSION
    builtin: bool = False
    clash: list[str] = field(default_factory=list)  # other sources claiming the same name
    _class: type[Plugin] | None = field(default=None, init=False, repr=False, compare=False)

    def load(self) -> type[Plugin]:
        """The plugin class, imported on the first call; a PluginError says why it cannot be used."""
        if self._class is None:
            self._class = self._import()
        return self._class

    @property
    def loaded(self) -> bool:
        return self._class is not None

    @property
    def plugin_class(self) -> type[Plugin]:
        return self.load()

    @property
    def family(self) -> str | None:
        """The family: registry.yaml's for a built-in, the class's once loaded, None before that for a package."""
        return self._class.family if self._class is not None else self.registered_family

    @property
    def summary(self) -> str:
        """registry.yaml's summary, else the class's own `summary` or first docstring line (once loaded),
        never one inherited from the class it extends."""
        if self.registered_summary or self._class is None:
            return self.registered_summary
        own_doc = inspect.cleandoc(self._class.__doc__ or "").split("\n")[0] if "__doc__" in vars(self._class) else ""
        return vars(self._class).get("summary") or own_doc

    @property
    def config_path(self) -> Path | None:
        """The default.yaml beside the plugin's module (imports the plugin), or None if it has none."""
        beside = Path(inspect.getfile(self.load())).with_name("default.yaml")
        return beside if beside.is_file() else None

    def _import(self) -> type[Plugin]:
        if self.clash:
            raise PluginError(
                f"plugin name '{self.name}' is claimed by several sources: "
                f"{', '.join([self.source, *self.clash])}; uninstall one of them"
            )
        module_name, _, attr = self.target.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # any import-time failure of a plugin is reported, not raised raw
            error = PluginError(
                f"plugin '{self.name}' ({self.target}) failed to load: {type(exc).__name__}: {exc}"
                f"{failing_line(exc, module_name)}"
            )
            error.details = "".join(traceback.format_exception(exc))
            raise error from exc
        if not (inspect.isclass(obj) and issubclass(obj, Plugin) and getattr(obj, "family", None) in FAMILIES):
            raise PluginError(
                f"plugin '{self.name}' ({self.target}) is not a Generator, Sampler, Classifier or Adapter subclass"
            )
        missing = sorted(getattr(obj, "__abstractmethods__", ()))
        if missing:
            interface = FAMILIES[obj.family]
            raise PluginError(
                f"plugin '{self.name}' ({self.target}) does not define {', '.join(missing)}, which every "
                f"{obj.family} must (zoo.interfaces.{interface.__name__} says what each returns)"
            )
        renamed = [(old, new) for old, new in RENAMED_HOOKS.items() if hasattr(obj, old)]
        if renamed:
            old, new = renamed[0]
            raise PluginError(
                f"plugin '{self.name}' ({self.target}) defines {old}, which zoo 0.1 calls {new} "
                "(learning-rate schedules against a sampler's noise schedulers); rename it"
            )
        if self.registered_family is not None and obj.family != self.registered_family:
            raise PluginError(
                f"plugin '{self.name}' is registered as a {self.registered_family} but {self.target} is a {obj.family}"
            )
        return obj

    @property
    def folder(self) -> Path:
        """The folder of the plugin's module: its default.yaml and shipped configs live here."""
        return Path(inspect.getfile(self.plugin_class)).parent

    def shipped_configs(self) -> dict[str, Path]:
        """The config files that come with the plugin, by the name `--config` accepts ('faces-cpu')."""
        return {path.stem: path for path in sorted(self.folder.glob("*.yaml"))}

    def config_file(self, given: str | Path) -> Path:
        """A `--config` argument as a file: a path that exists, else a shipped config by name
        ('faces-cpu', 'faces-cpu.yaml'), so an installed zoo's configs can be named from any folder.
        A source-tree path such as plugins/dcgan/faces.yaml names the shipped file from anywhere too."""
        path = Path(given).expanduser()
        if path.is_file():
            return path
        shipped = self.shipped_configs()
        name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
        if name in shipped and (len(path.parts) == 1 or path.parent.name == self.folder.name):
            return shipped[name]
        names = ", ".join(shipped) or "none"
        raise ConfigError(
            f"config file not found: {given}; {self.name} ships these configs, which --config takes by name: {names}"
        )

    @property
    def load_error(self) -> str | None:
        """Why the plugin cannot be used (its class does not import or is incomplete, or its default.yaml
        does not load), or None."""
        try:
            self.defaults()  # imports the class, then reads its default.yaml
        except ZooError as exc:
            return str(exc)
        return None

    def read_configs(self, items) -> list[dict]:
        """`--config` arguments (files or shipped config names, see config_file) or dicts already
        parsed, as the parsed dicts `config` takes."""
        return [dict(item) if isinstance(item, Mapping) else read_yaml(self.config_file(item)) for item in items]

    def defaults(self) -> dict:
        """The framework defaults under the plugin's default.yaml (imports the plugin)."""
        return plugin_defaults(self.config_path)

    def config(self, files=(), overrides=()) -> Config:
        defaults = self.defaults()
        return resolve(
            defaults,
            files,
            overrides,
            plugin_name=self.name,
            origin=str(self.config_path or "a default.yaml beside the plugin's module"),
        )

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
    own = [
        f for f in frames if f"{os.sep}{package}{os.sep}" in f.filename or f.filename.endswith(f"{os.sep}{package}.py")
    ]
    frame = (own or frames)[-1]
    return f" (at {_short_path(frame.filename)}:{frame.lineno}: {(frame.line or '').strip()})"


def _short_path(path: str) -> str:
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _builtin_specs(path: Path) -> list[PluginSpec]:
    if not path.is_file():
        raise PluginError(
            f"built-in registry not found at {path}; reinstall zoo "
            "(`pip install -e .` in its source tree, or its wheel)"
        )
    return [
        PluginSpec(
            name=name,
            target=entry["object"],
            source=f"zoo {VERSION}",
            builtin=True,
            registered_family=entry.get("family"),
            registered_summary=entry.get("summary", ""),
        )
        for name, entry in read_yaml(path).items()
    ]


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
    def discover(cls) -> Registry:
        return cls(_builtin_specs(builtin_registry_path()) + _entry_point_specs())

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


def versions() -> list[tuple[str, str]]:
    """(name, version) of zoo, Python, the libraries whose versions bug reports need, and every
    plugin with the distribution it comes from, for `zoo --version`. Imports none of them."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    rows = [("zoo", VERSION), ("python", platform.python_version())]
    for library in ("torch", "torchvision", "accelerate", "diffusers", "safetensors"):
        try:
            rows.append((library, version(library)))
        except PackageNotFoundError:
            rows.append((library, "not installed"))
    try:
        rows += [(f"plugin {spec.name}", spec.source) for spec in Registry.discover().specs()]
    except PluginError as exc:
        rows.append(("plugins", str(exc)))
    return rows
