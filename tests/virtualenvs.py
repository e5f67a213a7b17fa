"""Fresh virtualenvs for the tests that install something as a user would: a plugin package
(test_third_party) or zoo's own wheel (test_wheel).

A fresh virtualenv gets zoo's dependencies from this environment (no download, seconds instead of
minutes); what the test installs goes into it alone, so this environment never sees it.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def fresh_venv(where: Path, with_this_zoo: bool = True) -> Path:
    """A new virtualenv that sees this environment's packages; returns its python.

    with_this_zoo: this environment's .pth files apply too, so zoo's editable install is seen. Without
    it the parent's packages are a bare path, and a zoo must be installed into the new environment.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    line = f"import site; site.addsitedir({parent!r})" if with_this_zoo else parent
    Path(site, "_parent_env.pth").write_text(line + "\n")
    return python


def run(python: Path, *args, cwd: Path) -> str:
    """Run python (or, given a path, any program) with args; its stdout, or a failure with both streams."""
    done = subprocess.run([str(python), *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def pip_install(python: Path, package: Path, cwd: Path) -> None:
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", package, cwd=cwd)
