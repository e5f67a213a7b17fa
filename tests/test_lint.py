"""The tree is ruff-clean, lint and format, with the settings in pyproject.toml (`ruff check . && ruff format .`),
and no module of the product, its plugins or its benchmarks outgrows what a reader takes in at once."""

import subprocess
import sys

from conftest import PROJECT_ROOT


def ruff(*args):
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)


def test_ruff_check_is_clean():
    result = ruff("check", "--no-cache", ".")
    assert result.returncode == 0, f"ruff check found problems (fix with `ruff check --fix .`):\n{result.stdout}"


def test_ruff_format_is_clean():
    result = ruff("format", "--no-cache", "--check", ".")
    assert result.returncode == 0, f"these files need `ruff format .`:\n{result.stdout}"


MAX_MODULE_LINES = 400  # CONTRIBUTING: split a module by what its parts do before it reaches this


def test_no_module_is_over_400_lines():
    too_long = {
        str(path.relative_to(PROJECT_ROOT)): n
        for folder in ("zoo", "plugins", "benchmarks", "examples")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"split these modules by what their parts do (lines): {too_long}"
