"""Writing results to disk: one file atomically, or all of a visit's files or none.

Every result goes through ``write_atomic``: a temporary file in the target folder
(created owner-only, as these files hold patient speech), fsynced, then ``os.replace``,
so a crash or a full disk leaves either the previous file or the new one, never half a
transcript. ``write_all`` adds the visit-level guarantee: a visit's files are written
into a private staging folder and moved into place together at the end, so a failure
leaves all of them or none. Batch outputs and ``scribe recover`` both use it.

Logs name paths and byte counts only; never what a file holds.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from privacy.paths import fsync_dir
from scribe.errors import OutputError

logger = logging.getLogger("scribe.batch.files")

Writer = Callable[[Path], object]
"""Writes one file at the path it is given (its return value is ignored)."""


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and owner-only (mode 0600); parents are
    created. Returns ``path``. Raises ``OSError`` (nothing is left behind but a previous
    file at ``path``, untouched)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            # Data must be on disk before the rename, or a power cut can leave the new
            # name pointing at an empty file.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    logger.debug("wrote %s (%d bytes)", path, len(data))
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    return write_atomic(path, text.encode("utf-8"))


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically, owner-only like every result."""
    return write_atomic(path, data)


def write_all(
    out: Path,
    uri: str,
    writes: Mapping[str, Writer],
    *,
    source: str,
    before_commit: Callable[[Mapping[str, Path]], None] | None = None,
) -> tuple[str, ...]:
    """Write one visit's files into ``out``, all of them or none.

    Parameters
    ----------
    out : Path
        The existing results folder.
    uri : str
        The visit's output name; file ``k`` is ``out / (uri + k)``.
    writes : Mapping[str, Writer]
        Suffix (``".note.md"``) -> the writer of that file, in the order the files are
        written, moved into place and returned.
    source : str
        What the files are the results of (a recording's file name, a visit id), for the
        error message.
    before_commit : callable, optional
        Called with ``{name: staged path}`` once every file is staged and before any is
        moved into place (to hash and audit exactly what will be published). If it
        raises, nothing is published.

    Returns the file names written (``uri + suffix``), in ``writes`` order.

    Raises
    ------
    OutputError
        A file cannot be staged or moved into place (exit code 3); files already moved
        are removed again and the staging folder is always removed.
    """
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{uri}.", dir=out))
    except OSError as e:
        raise OutputError(out, f"cannot write results ({e.strerror or type(e).__name__})") from None
    names = {suffix: f"{uri}{suffix}" for suffix in writes}
    try:
        for suffix, write in writes.items():
            write(staging / names[suffix])
        if before_commit is not None:
            before_commit({name: staging / name for name in names.values()})
        moved: list[Path] = []
        try:
            for name in names.values():
                os.replace(staging / name, out / name)
                moved.append(out / name)
        except OSError:
            for done in moved:  # all of a visit's results or none
                done.unlink(missing_ok=True)
            raise
        fsync_dir(out)
    except OSError as e:
        raise OutputError(out, f"cannot write results for {source} ({e.strerror or type(e).__name__})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tuple(names.values())
