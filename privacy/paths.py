"""Where a site's Scribe data lives (the audit log, the site key and kept visits), and
the durable-write helpers for files there."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$SCRIBE_DATA_DIR``, else ``$XDG_DATA_HOME/scribe``, else ``~/.local/share/scribe``.
    Empty variables count as unset, as the XDG spec asks."""
    if os.environ.get("SCRIBE_DATA_DIR"):
        return Path(os.environ["SCRIBE_DATA_DIR"]).expanduser()
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]).expanduser() / "scribe"
    return Path.home() / ".local" / "share" / "scribe"


def fsync_dir(folder: Path) -> None:
    """Make a new or renamed directory entry durable (a file's own fsync does not).
    Best effort: not every platform allows it, and a failure here leaves the file no
    less complete."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the descriptor (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
