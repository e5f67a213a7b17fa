"""The built-in plugins, one folder each (listed in registry.yaml), installed as the package `zoo.plugins`
(setup.py)."""
