"""The tree is ruff-clean, lint and format, with the settings in pyproject.toml (`ruff check . && ruff format .`)."""

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
