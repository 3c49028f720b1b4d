"""Spill files: where a transient buffer's sealed chunks go past its memory limit.

A spill file holds only nonces and ciphertext (useless once the visit key is destroyed),
in a 0700 folder of this user's (``<tmp>/scribe-spill-<uid>`` by default), named
``<pid>-<visit>-<kind>-<random>.sealed`` so that ``sweep_spill`` can remove the files of
processes that ended without closing their buffers (a crash): they are unreadable anyway;
sweeping reclaims space and leaves no trace that a visit happened.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("scribe.privacy.spill")

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_SPILL_NAME = re.compile(r"(\d+)-.*\.sealed\Z", re.ASCII)


def spill_root() -> Path:
    """The default spill folder, ``<tmp>/scribe-spill-<uid>``, created 0700 if missing."""
    return private_dir(_default_spill_dir())


def sweep_spill(spill_dir: Path | None = None) -> int:
    """Remove ``*.sealed`` files left by processes that are no longer alive.

    Files of live processes (this one included) and names not in our format are left
    alone. Returns how many files were removed.
    """
    folder = Path(spill_dir) if spill_dir is not None else _default_spill_dir()
    if not folder.is_dir():
        return 0
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            match = _SPILL_NAME.match(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            pid = int(match.group(1))
            if pid <= 0 or _pid_alive(pid):
                continue
            if hasattr(os, "getuid") and entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:  # another sweeper got there first
                continue
            removed += 1
    if removed:
        log.info("removed %d spill file(s) left by ended processes", removed)
    return removed


@dataclass(frozen=True, slots=True)
class Spilled:
    """Where one sealed record (nonce + ciphertext + tag) sits in the spill file."""

    offset: int
    length: int


class SpillFile:
    """One buffer's overflow file: sealed records back to back; offsets live in memory."""

    def __init__(self, folder: Path, visit_id: str, kind: str):
        safe_visit = _UNSAFE_NAME.sub("_", visit_id)[:64]
        self.path = folder / f"{os.getpid()}-{safe_visit}-{kind}-{secrets.token_hex(8)}.sealed"
        self._owner_pid = os.getpid()
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
        for extra in ("O_CLOEXEC", "O_NOFOLLOW", "O_BINARY"):
            flags |= getattr(os, extra, 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            self._file = os.fdopen(fd, "r+b", buffering=0)  # unbuffered: records reach the file now
        except BaseException:
            os.close(fd)
            raise
        self._end = 0

    def write(self, blob: bytearray) -> Spilled:
        self._file.seek(self._end)
        with memoryview(blob) as view:
            done = 0
            while done < len(view):
                done += self._file.write(view[done:])
        record = Spilled(self._end, len(blob))
        self._end += len(blob)
        return record

    def read(self, record: Spilled) -> bytearray | None:
        """The record's bytes, or None if the file is shorter than it should be."""
        out = bytearray(record.length)
        self._file.seek(record.offset)
        with memoryview(out) as view:
            got = 0
            while got < record.length:
                n = self._file.readinto(view[got:])
                if not n:
                    return None
                got += n
        return out

    def remove(self) -> None:
        # A forked child inherits this object; only the creating process deletes the file.
        if os.getpid() != self._owner_pid:
            return
        self._file.close()
        # Not overwritten first: it is ciphertext, and on SSDs/CoW file systems an
        # overwrite does not reach the old blocks anyway.
        self.path.unlink(missing_ok=True)


def _default_spill_dir() -> Path:
    owner = str(os.getuid()) if hasattr(os, "getuid") else getpass.getuser()
    return Path(tempfile.gettempdir()) / f"scribe-spill-{owner}"


def private_dir(path: Path) -> Path:
    """Create ``path`` 0700 if missing; refuse one that another user could read or swap."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    if os.name == "nt":  # POSIX owners and modes do not apply; %TEMP% is per user there
        return path
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{path}: spill folder is not a real directory (symlink or file)")
    if info.st_uid != os.getuid():
        raise PermissionError(f"{path}: spill folder belongs to uid {info.st_uid}, not this user")
    if info.st_mode & 0o077:
        raise PermissionError(f"{path}: spill folder is open to other users (mode {stat.S_IMODE(info.st_mode):o}, want 700)")
    return path


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # no safe liveness probe without extra dependencies: keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True
