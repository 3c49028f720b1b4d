"""The audit log's closed schema (``privacy.audit``): the events, the fields each line
may carry, and the rule every value must meet. A record outside it raises
:class:`AuditError` before a byte is written; the message names the key and the rule,
never the value (it may be visit content)."""

from __future__ import annotations

import math
import re
from typing import Any

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
        "visit_interrupted",
        "visits_purged",
        "audit_anchored",
        # A clinician's voiceprint kept or removed (site configuration, not a visit): the
        # record's visit_id is the voiceprint's generated id, never the clinician's name.
        "voice_enrolled",
        "voice_deleted",
    }
)
# The events that end a visit (a visit_opened without one of them is still open).
ENDS = frozenset({"visit_closed", "visit_discarded", "visit_interrupted"})

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
_BOOT_ID = re.compile(r"\A[0-9a-f-]{36}\Z")  # /proc/sys/kernel/random/boot_id: a UUID
# Where a visit ran, for a batch across machines: the Ray node id (56 hex digits) and the
# node's host name (one DNS label is at most 63 characters, RFC 1035 2.3.4; a longer
# name is cut by its writer).
_NODE = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")

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
        "pid",
        "process_start",
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
    "boot_id": _BOOT_ID,
    "node": _NODE,
    "host": _NODE,
}
CHOICE_FIELDS: dict[str, frozenset[str]] = {"reason": REASONS, "format": FORMATS}
BOOL_FIELDS = frozenset({"privacy"})

ALLOWED_FIELDS = NUMBER_FIELDS | PATTERN_FIELDS.keys() | CHOICE_FIELDS.keys() | BOOL_FIELDS
_RESERVED = frozenset({"time", "event", "visit_id", "prev", "mac"})


class AuditError(ValueError):
    """An audit record outside the schema. Raised instead of writing it: the message names
    the key and the rule, never the offending value (it may be visit content)."""


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


