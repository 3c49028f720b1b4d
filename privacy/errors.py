"""The errors privacy raises on purpose, and the base every user-facing Scribe error shares.

``ScribeError`` and ``PathError`` are defined here, at the bottom layer, and re-exported by
``scribe.errors``: privacy's own user-facing errors (the visit store's) are then reported
by the CLI like any other Scribe error (one line, the class's exit code) without
``privacy`` importing ``scribe``.

``IntegrityError`` is the one base of every integrity failure: sealed data (a chunk of a
transient buffer, a record of a stored journal) that fails authentication, is missing or
is malformed. No plaintext from such data is ever returned. Catch this class to catch
them all; ``ChunkIntegrityError`` (a transient buffer) and ``RecordIntegrityError`` (the
visit store) say which failed.
"""

from __future__ import annotations

import os
import unicodedata

# Characters that would break or disguise one printed line: controls (newline, escape
# sequences), format characters (bidi overrides that reverse a name on screen, zero-width
# characters), line and paragraph separators, lone surrogates.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def shown(value: str | bytes | os.PathLike) -> str:
    r"""``value`` (a path or a name) as one printable line, for messages and logs.

    A file name's bytes that are not valid UTF-8 (which Python carries as surrogate
    escapes) are shown as ``\xff``; control, format and separator characters as
    ``\x0a`` or ``\u202e``; every other character, of any script, as it is. So a name
    can neither end the line, nor forge another, nor show reversed, and printing it never
    raises ``UnicodeEncodeError``."""
    text = os.fsdecode(value) if not isinstance(value, str) else value
    out = []
    for ch in text:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:  # surrogateescape: the undecodable byte cp - 0xDC00
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif unicodedata.category(ch) in HIDDEN_CATEGORIES:
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
        else:
            out.append(ch)
    return "".join(out)


class ScribeError(Exception):
    """Base for errors reported to the user as one line: ``str(error)`` names the input
    and the reason; the CLI prints it and exits with ``exit_code`` (never a traceback)."""

    exit_code = 1


class PathError(ScribeError):
    """An error about one file or folder: renders as ``<path>: <reason>``, the path
    through ``shown`` (one printable line whatever bytes the name holds).

    ``path`` is the path as a string (as the OS gave it), ``reason`` the reason alone."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{shown(self.path)}: {reason}")


class IntegrityError(Exception):
    """Sealed data failed authentication, is missing or is malformed; no plaintext from it
    is returned. The base of every integrity failure in privacy (see the module doc)."""


class ChunkIntegrityError(IntegrityError):
    """A chunk of a transient buffer (``privacy.buffer``) failed authentication or is
    missing; no data from it is returned. ``visit_id``, ``kind`` and ``index`` name the
    chunk, ``reason`` says why."""

    def __init__(self, visit_id: str, kind: str, index: int, reason: str):
        self.visit_id, self.kind, self.index, self.reason = visit_id, kind, index, reason
        super().__init__(f"{kind} buffer of visit {visit_id}: chunk {index}: {reason}")

    def __reduce__(self):
        return type(self), (self.visit_id, self.kind, self.index, self.reason)


class StoreError(PathError):
    """The visit store (``privacy.store``) cannot do what was asked: renders as
    ``<path>: <reason>``. A ``ScribeError`` (exit code 1): the CLI reports it as one line."""


class RecordIntegrityError(StoreError, IntegrityError):
    """A stored record failed authentication: corrupt, tampered with, or a different key.
    Both a ``StoreError`` (reported as one line) and an ``IntegrityError``."""
