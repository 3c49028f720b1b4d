"""What anchors the audit log (``privacy.audit``): a MAC on every line under a key derived
from the site key, and a head record, kept in a file of its own beside the log, that
says how many lines the log has and which line is the last one.

- The MAC key is HKDF-SHA256 of the site key (``privacy.sitekey``: 32 random bytes in a
  0600 file) with the info ``scribe audit log MAC v1``: the visit store's AES key and the
  audit log's MAC key are never the same bytes. It lives in memory only.
- A line's MAC is HMAC-SHA256 of the line's bytes without its ``"mac"`` member (the
  JSON object up to ``,"mac":"``, closed with ``}``), as 64 lowercase hex digits, written
  as the line's last member. The MAC covers ``prev``, so the hash chain is keyed too.
- The head record (``<log>.head``, 0600, replaced atomically after every append) is one
  JSON object: ``lines`` (how many lines the log has), ``legacy`` (how many of the first
  of them were written before logs were keyed, by an older Scribe), ``last`` (the SHA-256
  of the last line's bytes) and ``mac`` (HMAC-SHA256 of those three under the same key).

Errors name paths and reasons, never a key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy.errors import PathError
from privacy.paths import write_all
from privacy.sitekey import load_site_key

MAC_INFO = b"scribe audit log MAC v1"
_HEAD_INFO = "scribe audit head v1"
_MAC_MARK = b',"mac":"'
_HEX = frozenset(b"0123456789abcdef")


def mac_key(key_path: Path, *, create: bool) -> bytes:
    """The audit log's 32-byte MAC key, derived from the site key at ``key_path``
    (created when missing and ``create``). Raises ``privacy.errors.StoreError`` (one line:
    the key's path and the reason) when the site key cannot be read."""
    site = load_site_key(key_path, create=create)
    try:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MAC_INFO).derive(bytes(site))
    finally:
        site[:] = bytes(len(site))


def line_mac(key: bytes, body: bytes) -> str:
    """HMAC-SHA256 of a line's bytes without its MAC, as 64 hex digits."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def seal(key: bytes, body: bytes) -> bytes:
    """``body`` (one compact JSON object, ASCII) with its MAC appended as ``"mac"``."""
    return body[:-1] + _MAC_MARK + line_mac(key, body).encode("ascii") + b'"}'


def split_mac(line: bytes) -> tuple[bytes, str | None]:
    """A line's bytes without its MAC, and the MAC (None: the line carries none, as an
    older Scribe wrote them)."""
    cut = line.rfind(_MAC_MARK)
    tail = line[cut + len(_MAC_MARK) :] if cut >= 0 else b""
    if cut < 0 or len(tail) != 66 or not tail.endswith(b'"}') or not set(tail[:64]) <= _HEX:
        return line, None
    return line[:cut] + b"}", tail[:64].decode("ascii")


def mac_matches(key: bytes, body: bytes, mac: str) -> bool:
    return hmac.compare_digest(line_mac(key, body), mac)


def head_path(log_path: Path) -> Path:
    """Where the head record of the log at ``log_path`` is kept: ``<log>.head``."""
    return log_path.with_name(log_path.name + ".head")


@dataclass(frozen=True)
class Head:
    """The head record: the log has ``lines`` lines, its first ``legacy`` written before
    logs were keyed, and its last line's SHA-256 is ``last`` (64 hex digits; "0" * 64 for
    an empty log)."""

    lines: int
    legacy: int
    last: str

    def _signed(self) -> bytes:
        return f"{_HEAD_INFO}\n{self.lines}\n{self.legacy}\n{self.last}".encode("ascii")


class AuditPathError(PathError):
    """Where the audit log or its head record should be there is something else (a
    directory): a setup error, exit code 1, reported as one line naming the path. The log
    refuses to record (nothing is published) until it is put right."""


class HeadInvalid(ValueError):
    """The head record exists but cannot be trusted (not ours, edited, or another key).
    The message names the file and the reason."""


def read_head(path: Path, key: bytes) -> Head | None:
    """The head record at ``path``, None when there is none. Raises :class:`HeadInvalid`
    when it does not parse or its MAC does not match, :class:`AuditPathError` when it is
    a directory."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise AuditPathError(path, "is a directory, not the audit log's head record") from None
    try:
        data = json.loads(raw)
        head = Head(int(data["lines"]), int(data["legacy"]), str(data["last"]))
        mac = str(data["mac"])
        if type(data["lines"]) is not int or type(data["legacy"]) is not int:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise HeadInvalid(f"head record {path}: not a head record") from None
    if not hmac.compare_digest(hmac.new(key, head._signed(), hashlib.sha256).hexdigest(), mac):
        raise HeadInvalid(f"head record {path}: its MAC does not match (edited, or written under another key)")
    return head


def write_head(path: Path, key: bytes, head: Head, *, fsync: bool = True) -> None:
    """Replace the head record at ``path`` with ``head`` (a temporary file, fsynced, renamed
    over it: a reader sees the old record or the new one, never half of one). The rename
    itself is not fsynced: a crash that loses it leaves the previous head, which the
    log's newer lines (valid MACs past the head) are accepted beside. Measured on the
    2-core dev machine (median of 6 runs of 100 events, fsync on): 1.4 ms per event
    unanchored, 7.9 ms anchored, 9.5 ms with the directory fsynced as well."""
    mac = hmac.new(key, head._signed(), hashlib.sha256).hexdigest()
    data = json.dumps({"lines": head.lines, "legacy": head.legacy, "last": head.last, "mac": mac},
                      separators=(",", ":")).encode("ascii") + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
