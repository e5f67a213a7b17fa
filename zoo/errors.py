"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class ZooError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""


class ConfigError(ZooError):
    pass


class PluginError(ZooError):
    pass


class WeightsError(ZooError):
    pass


class DataError(ZooError):
    pass


class ZooWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints it as one line)."""
