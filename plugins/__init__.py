"""The built-in plugins, one folder each (see registry.yaml)."""
