"""`zoo plugin new NAME`: a pip-installable plugin package to start from (templates in zoo/scaffold/)."""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

import zoo
from zoo.errors import ZooError

TEMPLATES = Path(__file__).with_name("scaffold")


def new_plugin(name: str, parent: Path) -> list[Path]:
    """Write the package for plugin `name` into parent/name; returns the files written."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ZooError(f"plugin names are lowercase Python identifiers (letters, digits, _), e.g. my_vae; got '{name}'")
    from zoo.registry import Registry

    if name in Registry.discover():
        raise ZooError(f"a plugin named '{name}' already exists (see `zoo list`); choose another name")
    target = parent / name
    if target.exists():
        raise ZooError(f"{target} already exists; choose another name or folder")
    values = {
        "name": name,
        "package": f"zoo_{name}",
        "class_name": "".join(part.capitalize() for part in name.split("_")),
        "zoo_version": zoo.__version__,
    }
    written = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = template.relative_to(TEMPLATES).with_suffix("")  # drop .tmpl
        relative = Path(str(relative).replace("package", values["package"], 1)) if relative.parts[0] == "package" else relative
        if relative.parts[0] == "tests":
            relative = relative.with_name(f"test_{name}.py")
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template.read_text()).substitute(values))
        written.append(path)
    return written
