"""Where a site's Scribe data lives (the audit log, the site key and kept visits), and
the durable-write helpers for files there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from privacy.errors import PathError, shown


def data_dir() -> Path:
    """``$SCRIBE_DATA_DIR``, else ``$XDG_DATA_HOME/scribe``, else ``~/.local/share/scribe``.
    Empty variables count as unset, as the XDG spec asks."""
    if os.environ.get("SCRIBE_DATA_DIR"):
        return Path(os.environ["SCRIBE_DATA_DIR"]).expanduser()
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]).expanduser() / "scribe"
    return Path.home() / ".local" / "share" / "scribe"


class DataDirError(PathError):
    """The data folder is not a folder (a file, or under one): a setup error, exit code 1,
    reported as one line naming the folder."""


def check_data_dir(folder: Path | None = None) -> Path:
    """``folder`` (default :func:`data_dir`) when it is a folder, or missing with nothing
    but folders above it (it can be made). Raises :class:`DataDirError` when it, or a
    path above it, is a file. Other problems (permissions) are left to the write that
    meets them. Returns ``folder``."""
    folder = folder if folder is not None else data_dir()
    p = folder
    while True:
        try:
            mode = os.stat(p).st_mode
        except (FileNotFoundError, NotADirectoryError):
            if p.parent == p:
                return folder
            p = p.parent
            continue
        except OSError:
            return folder
        if stat.S_ISDIR(mode):
            return folder
        if p == folder:
            raise DataDirError(folder, "the data dir is not a folder")
        raise DataDirError(folder, f"the data dir cannot be made ({shown(p)} is not a folder)")


def private_dir(folder: Path) -> Path:
    """Create ``folder`` and each missing parent 0700 (``mkdir(parents=True, mode=...)``
    gives the mode to the last one only: a data dir first made for ``service/`` was 0755).
    Folders that already exist are left as they are. Returns ``folder``."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    return folder


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
