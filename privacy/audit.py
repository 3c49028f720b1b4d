"""The audit log: what happened to each visit, never what was said in it.

One JSON object per line, appended, never rewritten. A compliance officer reads it to see
that a visit was opened, processed, drafted, exported and closed (with times, durations,
model versions and the hash of each exported document) without seeing patient data.

The guarantee that no transcript text can reach this file is structural, not a matter of
care at the call sites: every key must be in a closed schema and every string value must
match a strict pattern (or come from a closed set) too short and too constrained to carry
a sentence. Anything else raises :class:`AuditError` before a byte is written.

How the log is anchored (``privacy.audit_anchor``): each line carries ``prev``, the
SHA-256 of the previous line's bytes ("0" * 64 for the first), and ``mac``, an
HMAC-SHA256 of the line under a key derived from the site key (``privacy.sitekey``). A
head record kept apart from the log (``<log>.head``) holds the number of lines and the
last line's hash, under the same MAC; it is replaced after every append, under the log's
lock. :meth:`AuditLog.verify` checks all three.

Threat model: someone who can write the log and the head record but cannot read the site
key (a process of another user given the data folder, a restored or copied backup, a
script run against the log file):

- cannot edit, insert or forge a line (its MAC), nor rewrite the whole chain (every MAC,
  and the head's), nor append a line of their own (no MAC, or a wrong one): each is
  reported at its line;
- cannot remove lines from the end, truncate the log at a line boundary, empty it or
  delete it: the head record says how many lines there were and which was last;
- cannot edit or delete the head record unnoticed once the log has keyed lines: a head
  whose MAC fails, or a keyed log without a head, fails verification;
- *can* put back an older copy of both the log and its head (a rollback to a state that
  was once genuine), and can delete the log and its head together, which looks like a
  site that never recorded anything. Neither is detectable from the machine alone: keep
  the line ``scribe audit --verify`` prints (line count and last hash) outside it and
  compare. Someone who can read the site key can forge anything; the key's 0600 mode and
  the data folder's 0700 are what keep it from them.

A log written before lines were keyed (an older Scribe) is reported as not anchored
until the next event is recorded: that event first appends ``audit_anchored`` (``count``:
the older lines it vouches for, from then on covered by the head record and chained into
the keyed lines). A rollback to such an older log would be anchored the same way, so an
``audit_anchored`` entry anywhere but just after the upgrade is itself a finding.

A visit whose process died without closing it (SIGKILL, power loss) has ``visit_opened``
and no end. Each ``visit_opened`` carries its process (``pid``, ``boot_id``,
``process_start`` in clock ticks, as the visit store's journal records its writer); the
first event a process records to the log appends ``visit_interrupted`` (reason
``crash``) once for every visit left open by a process that no longer runs.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from privacy.audit_schema import (  # noqa: F401 - the schema is part of this module's API
    ALLOWED_FIELDS, BOOL_FIELDS, CHOICE_FIELDS, ENDS, EVENTS, FORMATS, GENESIS, NUMBER_FIELDS, PATTERN_FIELDS,
    REASONS, _BOOT_ID, _RESERVED, AuditError, validate,
)
from privacy.audit_anchor import AuditPathError, Head, HeadInvalid, head_path, mac_key, mac_matches, read_head, seal, split_mac, write_head
from privacy.errors import StoreError
from privacy.audit_interrupted import left_open, writer_fields
from privacy.paths import check_data_dir, data_dir, fsync_dir
from privacy.sitekey import default_key_path

log = logging.getLogger("scribe.privacy.audit")


def audit_path() -> Path:
    """``$SCRIBE_AUDIT_LOG``, else ``<data dir>/audit.jsonl``."""
    explicit = os.environ.get("SCRIBE_AUDIT_LOG")
    if explicit:
        return Path(explicit)
    return data_dir() / "audit.jsonl"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _last_line(fd: int) -> tuple[bytes | None, bool]:
    """The file's last line (without its newline) and whether the file ends in one.
    Reads backwards in blocks so a long log costs no more than a short one."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None, True
    ends_clean = os.pread(fd, 1, size - 1) == b"\n"
    end = size - 1 if ends_clean else size
    chunks: list[bytes] = []
    pos = end
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        block = os.pread(fd, step, pos)
        cut = block.rfind(b"\n")
        if cut >= 0:
            chunks.append(block[cut + 1 :])
            break
        chunks.append(block)
    return b"".join(reversed(chunks)), ends_clean


@dataclass(frozen=True)
class Verification:
    """What :meth:`AuditLog.status` found. ``problems``: one line each, naming a line
    number and the rule, never a line's content; empty when intact. ``lines``: lines in
    the log. ``last``: the last line's SHA-256 (64 hex digits; None for an empty log), to
    be kept outside the machine and compared later. ``legacy``: lines written before the
    log was keyed."""

    problems: tuple[str, ...]
    lines: int
    last: str | None
    legacy: int = 0


# Which processes have swept this log for visits a dead process left open: once each.
_swept: set[tuple[int, str]] = set()


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, pos = [], 0
    while pos < size:
        block = os.pread(fd, min(1 << 20, size - pos), pos)
        if not block:
            break
        chunks.append(block)
        pos += len(block)
    return b"".join(chunks)


class AuditLog:
    """An append-only, hash-chained, keyed JSON-lines audit log at ``path``, anchored by
    the head record ``<path>.head``. ``key_path``: the site key the MAC key is derived
    from (default ``privacy.sitekey.default_key_path()``; created on the first record if
    missing)."""

    def __init__(self, path: str | os.PathLike | None = None, *, fsync: bool = True,
                 key_path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else audit_path()
        self.head_path = head_path(self.path)
        self.key_path = Path(key_path) if key_path is not None else default_key_path()
        self.fsync = fsync
        # flock serialises processes; this serialises threads sharing one AuditLog.
        self._lock = threading.Lock()
        self._key: bytes | None = None

    def _mac_key(self, create: bool) -> bytes:
        if self._key is None:
            self._key = mac_key(self.key_path, create=create)
        return self._key

    def check(self) -> None:
        """Raise a ``PathError`` (one line naming the path, exit 1) when the log's folder
        is a file or under one (``DataDirError``), or the log or its head record is a
        directory (``AuditPathError``). record, sweep and status check first."""
        check_data_dir(self.path.parent)
        for path, what in ((self.path, "the audit log"), (self.head_path, "the audit log's head record")):
            if path.is_dir():
                raise AuditPathError(path, f"is a directory, not {what}")

    def _open(self) -> int:
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(
            self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            # A pre-existing log readable by others is tightened, not trusted.
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        except OSError:
            pass
        if created and self.fsync:
            fsync_dir(parent)
        return fd

    def record(self, event: str, visit_id: str, **fields: Any) -> dict[str, Any]:
        """Append one event; return the entry as written (with ``time``, ``prev`` and
        ``mac``). A ``visit_opened`` also records this process (``pid``, ``boot_id``,
        ``process_start``). Raises :class:`AuditError` for a record outside the schema,
        ``privacy.errors.StoreError`` when the site key cannot be read or created,
        ``privacy.errors.PathError`` as :meth:`check` does, and ``OSError`` when the log
        cannot be written."""
        validate(event, visit_id, fields)
        self.check()
        entry: dict[str, Any] = {"time": _now(), "event": event, "visit_id": visit_id}
        entry.update(fields)
        if event == "visit_opened":
            entry.update(writer_fields())
        self._locked_append(entry)
        log.debug("audit %s recorded", event)
        return entry

    def sweep(self) -> list[str]:
        """Record ``visit_interrupted`` (reason ``crash``) for each visit the log shows
        opened, with no end, by a process that no longer runs (SIGKILL, power loss), and
        return their ids. Once per process and log (:meth:`record` does it before its
        first event too); call it when a process starts (``VisitFactory.start``). A log
        that does not exist is not created. Raises as :meth:`record`."""
        self.check()
        if not self.path.exists() or (os.getpid(), str(self.path.resolve())) in _swept:
            return []
        added = self._locked_append(None)
        return [e["visit_id"] for e in added if e["event"] == "visit_interrupted"]

    def _locked_append(self, entry: dict[str, Any] | None) -> list[dict[str, Any]]:
        """``_append`` under this process's lock and the log file's exclusive lock."""
        with self._lock:
            key = self._mac_key(create=True)
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    return self._append(fd, key, entry)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _append(self, fd: int, key: bytes, entry: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Under the log's exclusive lock: append ``entry`` (if any) after an
        ``audit_anchored`` for an older Scribe's lines and, on this process's first
        write, ``visit_interrupted`` for visits a dead process left open; then move the
        head record on, unless the log fails its anchor check: a head left behind keeps
        the evidence. Returns what was added before ``entry``."""
        try:
            head: Head | None = read_head(self.head_path, key)
            head_ok = True
        except HeadInvalid:
            head, head_ok = None, False
        last, ends_clean = _last_line(fd)
        sweep = (os.getpid(), str(self.path.resolve())) not in _swept
        before: list[dict[str, Any]] = []
        now = entry["time"] if entry is not None else _now()
        if (not sweep and head is not None and ends_clean and head.lines > 0 and last is not None
                and _digest(last) == head.last):
            count, legacy, anchor = head.lines, head.legacy, True  # the usual case: no read
        else:
            lines = self._split(_read_all(fd))
            count = len(lines)
            anchor, legacy = self._anchorable(lines, head, head_ok, key)
            if anchor and head is None and count:
                before.append({"time": now, "event": "audit_anchored", "visit_id": "*", "count": count})
            if sweep:
                before += [{"time": now, "event": "visit_interrupted", "visit_id": v, "reason": "crash"}
                           for v in left_open(lines)]
        items = before + ([entry] if entry is not None else [])
        if not items:
            _swept.add((os.getpid(), str(self.path.resolve())))
            return before
        prev = GENESIS if last is None else _digest(last)
        data = b"" if ends_clean else b"\n"  # a torn last line stays as evidence, on its own line
        for item in items:
            item["prev"] = prev
            line = seal(key, json.dumps(item, separators=(",", ":"), ensure_ascii=True).encode("ascii"))
            item["mac"] = line[-66:-2].decode("ascii")
            prev = _digest(line)
            data += line + b"\n"
        # One write with O_APPEND: no other appender can split the line.
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"{self.path}: short write to the audit log")
        if self.fsync:
            os.fsync(fd)
        if anchor:
            write_head(self.head_path, key, Head(count + len(items), legacy, prev), fsync=self.fsync)
        else:
            log.warning("audit log failed its anchor check; its head record was not moved on "
                        "(run scribe audit --verify)")
        _swept.add((os.getpid(), str(self.path.resolve())))
        return before

    @staticmethod
    def _anchorable(lines: list[bytes], head: Head | None, head_ok: bool, key: bytes) -> tuple[bool, int]:
        """Whether the head may move on to cover ``lines`` plus what is appended now, and
        how many older-Scribe lines it vouches for. Yes for a new log, an older Scribe's
        log (no keyed line, no head), and a log that is its head's lines followed only by
        keyed lines or a torn fragment (a writer stopped between its line and the head)."""
        if head is None:
            keyed = any(split_mac(line)[1] is not None for line in lines)
            return head_ok and not keyed, len(lines)
        if head.lines > len(lines) or (head.lines and _digest(lines[head.lines - 1]) != head.last):
            return False, head.legacy
        for line in lines[head.lines :]:
            body, mac = split_mac(line)
            if mac is None:
                try:
                    json.loads(line)
                except ValueError:
                    continue  # torn by a crash mid-write: verify reports it, at its line
                return False, head.legacy
            if not mac_matches(key, body, mac):
                return False, head.legacy
        return True, head.legacy

    def _raw(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    @staticmethod
    def _split(raw: bytes) -> list[bytes]:
        if not raw:
            return []
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return lines

    def read(self) -> list[dict[str, Any]]:
        """Every entry that parses, in order. Damaged lines are left to :meth:`verify`."""
        entries = []
        for line in self._split(self._raw()):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def verify(self) -> list[str]:
        """Problems found in the log (see :meth:`status`); empty when intact."""
        return list(self.status().problems)

    def status(self) -> Verification:
        """Check the chain, every line's MAC and schema, and the head record: edited,
        inserted, forged or removed lines, a truncated, emptied or deleted log, a
        rewritten chain, an edited or missing head. Problems name the line ("line N:
        ..."), the rule and, for the head, its file; never a line's content. Raises
        ``privacy.errors.PathError`` as :meth:`check` does: a setup error, not a finding."""
        self.check()
        problems: list[str] = []
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
                raw, exists = _read_all(fd), True
            else:
                raw, exists = b"", False
            lines = self._split(raw)
            keyed = [n for n, line in enumerate(lines, start=1) if split_mac(line)[1] is not None]
            key: bytes | None = None
            head: Head | None = None
            head_seen = self.head_path.exists()
            if keyed or head_seen:
                try:
                    key = self._mac_key(create=False)
                except StoreError as e:
                    where = keyed[0] if keyed else 1
                    problems.append(f"line {where}: cannot be checked: {e}")
            if key is not None:
                try:
                    head = read_head(self.head_path, key)
                except HeadInvalid as e:
                    problems.append(f"line {len(lines)}: cannot be vouched for: {e}")
        finally:
            if fd is not None:
                os.close(fd)
        if raw and not raw.endswith(b"\n"):
            problems.append(f"line {len(lines)}: incomplete (no newline; interrupted write?)")
        legacy = head.legacy if head is not None else (0 if keyed else len(lines))
        expected = GENESIS
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError
            except ValueError:
                problems.append(f"line {number}: not a JSON object")
                expected = _digest(line)
                continue
            prev = entry.get("prev")
            if prev != expected:
                what = "first line" if number == 1 else f"line {number - 1}"
                problems.append(
                    f"line {number}: hash chain broken (does not follow {what}; "
                    "a line was edited, removed or inserted)"
                )
            body, mac = split_mac(line)
            if mac is None and number > legacy:
                problems.append(f"line {number}: no MAC: not written by Scribe under this site's key "
                                "(forged, or an older line moved)")
            elif mac is not None and key is not None and not mac_matches(key, body, mac):
                problems.append(f"line {number}: MAC does not match: the line was edited or forged")
            fields = {k: v for k, v in entry.items() if k not in _RESERVED}
            try:
                if not isinstance(entry.get("time"), str):
                    raise AuditError("audit time: missing")
                validate(entry.get("event"), entry.get("visit_id"), fields)
            except AuditError as exc:
                problems.append(f"line {number}: outside the audit schema ({exc})")
            expected = _digest(line)
        count = len(lines)
        if head is not None:
            if head.lines > count:
                if not exists or not count:
                    what = "is empty but" if exists else "was deleted;"
                    problems.append(f"line 1: missing: the log {what} its head record "
                                    f"({self.head_path}) says {head.lines} line(s)")
                else:
                    problems.append(f"line {count + 1}: missing: the log ends after line {count} but its head "
                                    f"record ({self.head_path}) says {head.lines} (truncated, emptied, or lines "
                                    "removed from the end)")
            elif head.lines and _digest(lines[head.lines - 1]) != head.last:
                problems.append(f"line {head.lines}: not the line its head record ({self.head_path}) "
                                "anchors (edited or replaced)")
        elif key is not None and keyed and not head_seen:
            problems.append(f"line {count}: no head record ({self.head_path} is missing): lines removed "
                            "from the end cannot be ruled out")
        elif not keyed and not head_seen and count:
            problems.append(f"line 1: not anchored: the log's {count} line(s) were written by an older "
                            "Scribe, before audit logs were keyed; the next event recorded anchors them")
        problems.sort(key=_line_number)
        return Verification(tuple(problems), count, _digest(lines[-1]) if lines else None, legacy)


def _line_number(problem: str) -> int:
    match = re.match(r"line (\d+):", problem)
    return int(match.group(1)) if match else 0


_SHOWN = ("template", "privacy", "reason", "format", "segments", "speakers", "count", "visits")


def _details(entry: dict[str, Any]) -> str:
    parts = []
    # The process's boot id and start ticks tell a recycled pid apart; not for reading.
    rest = {k: v for k, v in entry.items() if k not in _RESERVED and k not in ("boot_id", "process_start")}
    ordered = [k for k in _SHOWN if k in rest] + sorted(k for k in rest if k not in _SHOWN)
    for key in ordered:
        value = rest[key]
        if key == "sha256" and isinstance(value, str):
            value = value[:12] + "..."
        elif isinstance(value, bool):
            value = "on" if value else "off"
        elif isinstance(value, float):
            value = f"{value:.1f}"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def format_table(entries: Iterable[dict[str, Any]], problems: list[str] | None = None) -> str:
    """A plain-text table of entries for ``scribe audit``: time, event, visit, details.
    ``problems`` (from :meth:`AuditLog.verify`) adds a warning line at the end."""
    rows = [
        (
            str(e.get("time", "?")),
            str(e.get("event", "?")),
            str(e.get("visit_id", "?")),
            _details(e),
        )
        for e in entries
    ]
    header = ("TIME", "EVENT", "VISIT", "DETAILS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)] + [row[3]]
        lines.append("  ".join(cells).rstrip())
    if not rows:
        lines.append("(no audit entries)")
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        lines.append(
            f"warning: audit log failed verification: {first}{more}. "
            "The log may have been edited or truncated; keep a copy before investigating."
        )
    return "\n".join(lines)
