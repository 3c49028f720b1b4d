"""The site key: the 32-byte AES-256 key standard mode's visit store is sealed under.

It lives in a 0600 file (``$SCRIBE_SITE_KEY``, else ``<data dir>/site.key``), created from
``os.urandom`` on first use. Errors name the path and the reason, never the key.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from privacy.errors import StoreError
from privacy.paths import data_dir, fsync_dir, write_all

logger = logging.getLogger("scribe.privacy.sitekey")

KEY_BYTES = 32


def default_key_path() -> Path:
    if os.environ.get("SCRIBE_SITE_KEY"):
        return Path(os.environ["SCRIBE_SITE_KEY"]).expanduser()
    return data_dir() / "site.key"


def load_site_key(path: Path | None = None, create: bool = True) -> bytearray:
    """The site's 32-byte key. Created (0600, from os.urandom) if missing and ``create``.
    Returned as a bytearray so the caller can zero it when done. Errors name the path and
    the reason, never the key."""
    path = Path(path) if path is not None else default_key_path()
    if create:
        _create_key(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise StoreError(path, "site key not found") from None
    except OSError as exc:
        raise StoreError(path, f"cannot open site key: {exc.strerror}") from None
    try:
        # fstat on the open descriptor, so the checks apply to the file actually read.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(path, "site key is not a regular file")
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise StoreError(
                path, f"site key permissions {mode:04o} allow group/other access; chmod 600 it"
            )
        if st.st_size != KEY_BYTES:
            raise StoreError(path, f"site key must be {KEY_BYTES} bytes, found {st.st_size}")
        key = bytearray(KEY_BYTES)
        view = memoryview(key)
        got = 0
        while got < KEY_BYTES:
            n = os.readv(fd, [view[got:]])
            if n == 0:
                break
            got += n
        if got != KEY_BYTES:
            key[:] = bytes(KEY_BYTES)
            raise StoreError(path, f"site key must be {KEY_BYTES} bytes, read {got}")
        return key
    finally:
        os.close(fd)


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes racing to create the key must not each write their own.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(path, f"cannot create site key: {exc.strerror}") from None
    try:
        write_all(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise StoreError(path, f"cannot write site key: {exc.strerror}") from None
    os.close(fd)
    fsync_dir(path.parent)
    logger.info("created site key at %s", path)
