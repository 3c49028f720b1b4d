"""The audit log: what happened to each visit, never what was said in it.

One JSON object per line, appended, never rewritten. A compliance officer reads it to see
that a visit was opened, processed, drafted, exported and closed (with times, durations,
model versions and the hash of each exported document) without seeing patient data.

The guarantee that no transcript text can reach this file is structural, not a matter of
care at the call sites: every key must be in a closed schema and every string value must
match a strict pattern (or come from a closed set) too short and too constrained to carry
a sentence. Anything else raises :class:`AuditError` before a byte is written.

Each line carries ``prev``, the SHA-256 of the previous line's bytes ("0" * 64 for the
first), so an edited, inserted or deleted line breaks the chain and :meth:`AuditLog.verify`
reports it. The chain is tamper-evident against casual edits, not against someone who
rewrites the whole file; removing lines from the end is only detectable against an
outside copy of the last hash.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import threading
from pathlib import Path

from privacy.paths import data_dir, fsync_dir
from typing import Any, Iterable

log = logging.getLogger("scribe.privacy.audit")

GENESIS = "0" * 64

EVENTS = frozenset(
    {
        "visit_opened",
        "visit_processed",
        "note_drafted",
        "note_exported",
        "note_signed",
        "visit_closed",
        "visit_discarded",
        "visit_recovered",
        "visits_purged",
    }
)

REASONS = frozenset(
    {"error", "crash", "user_stop", "user_request", "timeout", "retention", "no_speech", "service_stopped"}
)
FORMATS = frozenset({"json", "fhir", "md", "txt", "vtt", "srt", "pdf", "docx"})

# Visit ids are generated (random or sequential), never derived from a patient's name or
# a recording's file name; "*" stands for "all visits" in visits_purged.
_VISIT_ID = re.compile(r"\A(?:\*|[A-Za-z0-9._:-]{1,64})\Z")
_MODEL = re.compile(r"\A[A-Za-z0-9._:/+-]{1,80}\Z")
_TEMPLATE = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")
_LANGUAGE = re.compile(r"\A[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?\Z")
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")

# Durations in seconds and counts: non-negative finite numbers.
NUMBER_FIELDS = frozenset(
    {
        "audio_seconds",
        "processing_seconds",
        "duration_seconds",
        "segments",
        "words",
        "speakers",
        "bytes",
        "files",
        "visits",
        "count",
        "blocked_connections",
        "redactions",
    }
)
PATTERN_FIELDS: dict[str, re.Pattern[str]] = {
    "asr_model": _MODEL,
    "vad_model": _MODEL,
    "diarization_model": _MODEL,
    "drafting_model": _MODEL,
    "model": _MODEL,
    "model_version": _MODEL,
    "scribe_version": _MODEL,
    "template": _TEMPLATE,
    "language": _LANGUAGE,
    "sha256": _SHA256,
}
CHOICE_FIELDS: dict[str, frozenset[str]] = {"reason": REASONS, "format": FORMATS}
BOOL_FIELDS = frozenset({"privacy"})

ALLOWED_FIELDS = NUMBER_FIELDS | PATTERN_FIELDS.keys() | CHOICE_FIELDS.keys() | BOOL_FIELDS
_RESERVED = frozenset({"time", "event", "visit_id", "prev"})


class AuditError(ValueError):
    """An audit record outside the schema. Raised instead of writing it: the message names
    the key and the rule, never the offending value (it may be visit content)."""


def audit_path() -> Path:
    """``$SCRIBE_AUDIT_LOG``, else ``<data dir>/audit.jsonl``."""
    explicit = os.environ.get("SCRIBE_AUDIT_LOG")
    if explicit:
        return Path(explicit)
    return data_dir() / "audit.jsonl"


def _check_field(key: str, value: Any) -> None:
    if key in NUMBER_FIELDS:
        # bool is an int subclass; True is not a count.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AuditError(f"audit field {key!r}: must be a number")
        if not math.isfinite(value) or value < 0:
            raise AuditError(f"audit field {key!r}: must be finite and non-negative")
    elif key in PATTERN_FIELDS:
        if not isinstance(value, str) or not PATTERN_FIELDS[key].match(value):
            raise AuditError(f"audit field {key!r}: not a valid {key} (short identifier only)")
    elif key in CHOICE_FIELDS:
        if not isinstance(value, str) or value not in CHOICE_FIELDS[key]:
            choices = ", ".join(sorted(CHOICE_FIELDS[key]))
            raise AuditError(f"audit field {key!r}: must be one of {choices}")
    elif key in BOOL_FIELDS:
        if not isinstance(value, bool):
            raise AuditError(f"audit field {key!r}: must be true or false")
    else:
        raise AuditError(f"audit field {key!r}: not in the audit schema")


def validate(event: str, visit_id: str, fields: dict[str, Any]) -> None:
    """Raise :class:`AuditError` unless this record fits the schema."""
    if not isinstance(event, str) or event not in EVENTS:
        raise AuditError("audit event: must be one of " + ", ".join(sorted(EVENTS)))
    if not isinstance(visit_id, str) or not _VISIT_ID.match(visit_id):
        raise AuditError("audit visit_id: must be a short identifier (A-Z a-z 0-9 . _ : -)")
    for key, value in fields.items():
        if key in _RESERVED:
            raise AuditError(f"audit field {key!r}: reserved")
        _check_field(key, value)


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


class AuditLog:
    """An append-only, hash-chained JSON-lines audit log at ``path``."""

    def __init__(self, path: str | os.PathLike | None = None, *, fsync: bool = True):
        self.path = Path(path) if path is not None else audit_path()
        self.fsync = fsync
        # flock serialises processes; this serialises threads sharing one AuditLog.
        self._lock = threading.Lock()

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
        """Append one event; return the entry as written (with ``time`` and ``prev``)."""
        validate(event, visit_id, fields)
        entry: dict[str, Any] = {"time": _now(), "event": event, "visit_id": visit_id}
        entry.update(fields)
        with self._lock:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    last, ends_clean = _last_line(fd)
                    entry["prev"] = GENESIS if last is None else _digest(last)
                    line = json.dumps(entry, separators=(",", ":"), ensure_ascii=True)
                    data = line.encode("ascii") + b"\n"
                    if not ends_clean:
                        # A torn last line (crash mid-write) stays as evidence; ours
                        # starts on a line of its own and chains to the fragment.
                        data = b"\n" + data
                    # One write with O_APPEND: no other appender can split the line.
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(f"{self.path}: short write to the audit log")
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        log.debug("audit %s recorded", event)
        return entry

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
        """Problems found in the log: broken chain, damaged or out-of-schema lines. Empty
        when intact. Messages give line numbers and rules, never line contents."""
        problems: list[str] = []
        raw = self._raw()
        lines = self._split(raw)
        if raw and not raw.endswith(b"\n"):
            problems.append(f"line {len(lines)}: incomplete (no newline; interrupted write?)")
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
            fields = {k: v for k, v in entry.items() if k not in _RESERVED}
            try:
                if not isinstance(entry.get("time"), str):
                    raise AuditError("audit time: missing")
                validate(entry.get("event"), entry.get("visit_id"), fields)
            except AuditError as exc:
                problems.append(f"line {number}: outside the audit schema ({exc})")
            expected = _digest(line)
        return problems


_SHOWN = ("template", "privacy", "reason", "format", "segments", "speakers", "count", "visits")


def _details(entry: dict[str, Any]) -> str:
    parts = []
    rest = {k: v for k, v in entry.items() if k not in _RESERVED}
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
