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


def os_error_line(exc: OSError) -> str:
    """A failed read or write (full disk, no permission, a file where a folder should be) as one line."""
    import errno

    hints = {
        errno.ENOSPC: "the disk is full: free some space or write elsewhere",
        errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
        errno.EACCES: "no permission: choose a folder you can write to",
        errno.EPERM: "no permission: choose a folder you can write to",
        errno.EROFS: "the file system is read-only: write elsewhere",
        errno.ENOTDIR: "part of the path is a file, not a folder: choose another path",
        errno.EISDIR: "that path is a folder: give a file name",
    }
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}; {hints.get(exc.errno, 'check the path and try again')}"
