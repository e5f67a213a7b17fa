"""Files written whole or not at all.

Everything zoo writes for a user to read back (weights, images, CSVs, JSON, configs) goes through
here: the bytes go to a temporary file beside the target, which is renamed into place once
complete. A crash, kill -9, SIGTERM or full disk mid-write leaves the old file (or none), never a
cut-short one under the real name.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

# Ctrl-C / SIGTERM arrive as KeyboardInterrupt between any two bytecodes, so one landing between
# mkstemp and the cleanup would strand a temporary file. `interrupt_or_defer` (the CLI's handler)
# holds the interrupt while the main thread is inside atomic_write and raises it once the file is
# whole or gone.
_writing = 0
_interrupted = False


def interrupt_or_defer(signum, frame) -> None:
    """Signal handler: KeyboardInterrupt now, or after the atomic_write in progress has finished."""
    global _interrupted
    if _writing:
        _interrupted = True
    else:
        raise KeyboardInterrupt


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path to path (atomic on POSIX within a filesystem)."""
    global _writing, _interrupted
    main = threading.current_thread() is threading.main_thread()  # signal handlers run there only
    _writing += main
    try:
        _write_via_temporary(path, write)
    finally:
        _writing -= main
        if main and _interrupted and not _writing:
            _interrupted = False
            raise KeyboardInterrupt


def _write_via_temporary(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno is None:
            raise
        # Name the file the user asked for, not the temporary one (a full disk fails on either).
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> None:
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))
