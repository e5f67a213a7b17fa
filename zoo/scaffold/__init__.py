"""`zoo plugin new NAME`: a pip-installable plugin package to start from (templates in zoo/scaffold/)."""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from zoo.errors import ZooError
from zoo.registry import Registry
from zoo.version import VERSION

TEMPLATES = Path(__file__).parent  # the templates sit beside this module
# One folder each in scaffold/families/; "gan" is a Generator on zoo.gan.GAN.
FAMILIES = ("generator", "gan", "sampler", "classifier", "adapter")


def new_plugin(name: str, parent: Path, family: str = "generator") -> list[Path]:
    """Write the package for plugin `name` of `family` into parent/name; returns the files written."""
    if family not in FAMILIES:
        raise ZooError(f"--family must be one of {', '.join(FAMILIES)}, got '{family}'")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ZooError(f"plugin names are lowercase Python identifiers (letters, digits, _), e.g. my_vae; got '{name}'")

    if name in Registry.discover():
        raise ZooError(f"a plugin named '{name}' already exists (see `zoo list`); choose another name")
    target = parent / name
    if target.exists():
        raise ZooError(f"{target} already exists; choose another name or folder")
    values = {
        "name": name,
        "package": f"zoo_{name}",
        "class_name": "".join(part.capitalize() for part in name.split("_")),
        "zoo_version": VERSION,
        "family": family,
    }
    written = []
    shared = [t for t in TEMPLATES.rglob("*.tmpl") if t.relative_to(TEMPLATES).parts[0] != "families"]
    for template in sorted(shared + sorted((TEMPLATES / "families" / family).glob("*.tmpl"))):
        relative = template.relative_to(TEMPLATES).with_suffix("")  # drop .tmpl
        if relative.parts[0] == "families":  # the family's plugin.py and default.yaml go into the package
            relative = Path("package", relative.name)
        relative = (
            Path(str(relative).replace("package", values["package"], 1)) if relative.parts[0] == "package" else relative
        )
        if relative.parts[0] == "tests":
            relative = relative.with_name(f"test_{name}.py")
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template.read_text()).substitute(values))
        written.append(path)
    return written
