"""Visits a process left open in the audit log (``privacy.audit``): each
``visit_opened`` records its process as the visit store's journal records its writer
(``privacy.journal.writer_record``: pid, boot id, start time in clock ticks), so a later
process can tell a visit still being recorded from one whose process died (SIGKILL,
power loss) and record that one ``visit_interrupted``."""

from __future__ import annotations

import json
from typing import Any

from privacy.audit_schema import _BOOT_ID, ENDS
from privacy.journal import writer_alive, writer_record


def writer_fields() -> dict[str, Any]:
    """This process, as a ``visit_opened`` records it (``privacy.journal.writer_record``)."""
    writer = writer_record()
    fields: dict[str, Any] = {"pid": writer["pid"]}
    if writer.get("boot_id") and _BOOT_ID.match(writer["boot_id"]):
        fields["boot_id"] = writer["boot_id"]
    if isinstance(writer.get("start"), int):
        fields["process_start"] = writer["start"]
    return fields


def left_open(lines: list[bytes]) -> list[str]:
    """Visits opened in ``lines`` with no end, by a process that no longer runs (in the
    order they were opened). A ``visit_opened`` without a process (an older Scribe's) is
    left alone: whether it still runs cannot be told."""
    opened: dict[str, dict[str, Any]] = {}
    for line in lines:
        if b'"visit_' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        event, visit = entry.get("event"), entry.get("visit_id")
        if event == "visit_opened" and isinstance(visit, str):
            opened[visit] = entry
        elif event in ENDS:
            opened.pop(visit, None)
    return [
        visit
        for visit, e in opened.items()
        if isinstance(e.get("pid"), int)
        and not writer_alive({"pid": e["pid"], "boot_id": e.get("boot_id"), "start": e.get("process_start")})
    ]
