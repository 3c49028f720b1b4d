"""The errors privacy raises on purpose, and the base every user-facing Scribe error shares.

``ScribeError`` and ``PathError`` are defined here, at the bottom layer, and re-exported by
``scribe.errors``: privacy's own user-facing errors (the visit store's) are then reported
by the CLI like any other Scribe error (one line, the class's exit code) without
``privacy`` importing ``scribe``.

``IntegrityError`` is the one base of every integrity failure: sealed data (a chunk of a
transient buffer, a record of a stored journal) that fails authentication, is missing or
is malformed. No plaintext from such data is ever returned. Catch this class to catch
them all; ``privacy.buffer.ChunkIntegrityError`` and ``privacy.store.RecordIntegrityError``
say which store failed.
"""

from __future__ import annotations

import os


class ScribeError(Exception):
    """Base for errors reported to the user as one line: ``str(error)`` names the input
    and the reason; the CLI prints it and exits with ``exit_code`` (never a traceback)."""

    exit_code = 1


class PathError(ScribeError):
    """An error about one file or folder: renders as ``<path>: <reason>``.

    ``path`` is the path as a string, ``reason`` the reason alone."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class IntegrityError(Exception):
    """Sealed data failed authentication, is missing or is malformed; no plaintext from it
    is returned. The base of every integrity failure in privacy (see the module doc)."""
