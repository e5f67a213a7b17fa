"""The build's two choices that setup.cfg cannot state.

- The built-in plugins live in plugins/ in the repository and install as the package `zoo.plugins`
  (nothing named `plugins` at the top of site-packages).
- registry.yaml, the list of built-ins, sits beside plugins/ in the repository; the wheel keeps it
  beside zoo/plugins/, as zoo/registry.yaml, so `zoo.registry` finds it the same way in both.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithRegistry(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:  # an editable install reads the repository's own file
            self.copy_file(str(ROOT / "registry.yaml"), str(Path(self.build_lib, "zoo", "registry.yaml")))


setup(
    packages=find_packages(include=["zoo", "zoo.*"])
    + ["zoo.plugins"]
    + [f"zoo.plugins.{name}" for name in find_packages("plugins")],
    package_dir={"zoo.plugins": "plugins"},
    cmdclass={"build_py": BuildWithRegistry},
)
