"""The README's set-up commands are what CI runs: the same lines, in the same order."""

import re

from conftest import PROJECT_ROOT


def readme_setup_commands() -> list[str]:
    """The lines of the first ```bash block under "## Set up, train, test"."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Set up, train, test", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def ci_commands() -> list[str]:
    """.ci/run without its comments, shell options and `cd` to the checkout."""
    lines = (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "set ", "cd "))]


def test_ci_runs_the_readme_commands_in_order():
    commands = readme_setup_commands()
    assert len(commands) == 3 and commands[1] == "zoo run dcgan" and commands[2].startswith("python -m pytest")
    assert ci_commands() == commands
