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
from dataclasses import dataclass
from pathlib import Path

from privacy.paths import fsync_dir
from scribe.errors import OutputError

logger = logging.getLogger("scribe.batch.files")

Writer = Callable[[Path], object]
"""Writes one file at the path it is given (its return value is ignored)."""

Publish = Callable[..., tuple[str, ...]]
"""How a visit's files reach their folder: ``write_all``'s signature (``out, uri, writes,
*, source, before_commit``), returning the names published."""


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
    return commit(stage_all(out, uri, writes, source=source, before_commit=before_commit))


@dataclass(frozen=True)
class Staged:
    """A visit's files written into a private staging folder inside ``out`` (0700, named
    ``.URI.XXXXXXXX``) and not yet published: ``names`` (``uri + suffix``, in the order
    they are moved into place) under ``folder``. ``source`` names what they are the
    results of, for messages. Paths and names only: it holds nothing a file holds."""

    out: Path
    folder: Path
    names: tuple[str, ...]
    source: str


def stage_all(
    out: Path,
    uri: str,
    writes: Mapping[str, Writer],
    *,
    source: str,
    before_commit: Callable[[Mapping[str, Path]], None] | None = None,
) -> Staged:
    """The first half of ``write_all``: every file written into a new staging folder in
    ``out``, then ``before_commit`` (the audit); nothing published. ``commit`` publishes
    them, ``discard`` removes them. A runner across machines stages on a worker and
    commits on its driver (``scribe.batch.ray_runner``); both see ``out`` on shared
    storage. Raises ``OutputError`` (exit code 3), the staging folder removed."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{uri}.", dir=out))
    except OSError as e:
        raise OutputError(out, f"cannot write results ({e.strerror or type(e).__name__})") from None
    names = {suffix: f"{uri}{suffix}" for suffix in writes}
    try:
        for suffix, write in writes.items():
            write(folder / names[suffix])
        if before_commit is not None:
            before_commit({name: folder / name for name in names.values()})
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise OutputError(out, f"cannot write results for {source} ({e.strerror or type(e).__name__})") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Staged(out, folder, tuple(names.values()), source)


def commit(staged: Staged) -> tuple[str, ...]:
    """Publish staged files: each moved into ``staged.out`` (``os.replace``, atomic per
    file), all of them or none (on a failure those already moved are removed again), the
    folder synced; the staging folder is always removed. Returns the names published.
    Raises ``OutputError`` (exit code 3)."""
    out = staged.out
    try:
        moved: list[Path] = []
        try:
            for name in staged.names:
                os.replace(staged.folder / name, out / name)
                moved.append(out / name)
        except OSError:
            for done in moved:  # all of a visit's results or none
                done.unlink(missing_ok=True)
            raise
        fsync_dir(out)
    except OSError as e:
        raise OutputError(out, f"cannot write results for {staged.source} ({e.strerror or type(e).__name__})") from None
    finally:
        discard(staged)
    return staged.names


def discard(staged: Staged) -> None:
    """Remove a staging folder and whatever is left in it (nothing is published)."""
    shutil.rmtree(staged.folder, ignore_errors=True)
