"""Signing a live visit's note together with its patient instructions.

The clinician signs two documents at once: the note as edited, and the after-visit
summary (``Note.instructions``) as edited. The note is signed by ``LiveVisit.sign``; the
instructions become their own FHIR DocumentReference, built here the same way
(``Note.instructions_note()``, status final, the edited text as both the plain text and
the markdown, the recorder's start and stop times), with a document identifier derived
from the visit's so the two stay apart across versions, and the note's identifier in
``context.related``. Instructions left empty sign the note alone.

The sign rule for flagged sentences: a line of either text that still starts with
``[UNSUPPORTED]`` (the grounding guard flagged it and the clinician neither accepted it,
by removing the mark, nor deleted it) is left out of what is signed
(``scribe.notes.render.drop_unsupported``); ``Signed.left_out`` says how many. While a
model drafter is still drafting the note, signing is refused (409): the note the
clinician would sign is about to be replaced.

The service keeps a signed visit's instructions document in memory beside the note's
(``CaptureService.signed_instructions``) until the visit is exported or discarded. Every
signature, download and sending is audited through ``scribe.batch.export``: the hash
only, never the text, and one hash per document (its canonical JSON), so a download's
``note_exported`` carries its ``note_signed`` hash.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from fastapi import HTTPException

from scribe.batch.export import audit_document
from scribe.live.visit import LiveVisit, State, VisitStateError
from scribe.notes.render import drop_unsupported
from scribe.service.capture import Limits
from scribe.types import Note

# The instructions' document identifier: a uuid5 of the visit's, under this name.
INSTRUCTIONS_NAME = "instructions"
# The audit log's template field holds at most 64 characters.
_SUFFIX = ".instructions"


@dataclass(frozen=True)
class SignRequest:
    """What ``POST /api/visits/ID/sign`` carries: the note as signed, and the patient
    instructions as signed ("" when there are none: the note is signed alone)."""

    text: str
    instructions: str = ""


@dataclass(frozen=True)
class Signed:
    """The signed note's DocumentReference, the instructions' (None when empty), and
    how many lines still marked ``[UNSUPPORTED]`` were left out of the two."""

    note: dict[str, Any]
    instructions: dict[str, Any] | None
    left_out: int = 0


def sign_request(body: dict[str, Any], limits: Limits) -> SignRequest:
    """The sign request in ``body`` (a JSON object). ``text`` is required, ``instructions``
    optional (null or absent: none); both are strings of at most
    ``limits.max_text_bytes`` in UTF-8. Raises HTTPException 400 for the wrong shape or
    a lone surrogate, 413 for a text over the limit; the reason is one line and never quotes the text."""
    text = body.get("text")
    if not isinstance(text, str):
        raise HTTPException(400, "text (the note as signed) is required")
    instructions = body.get("instructions")
    if instructions is None:
        instructions = ""
    if not isinstance(instructions, str):
        raise HTTPException(400, "instructions (the patient instructions as signed) must be text")
    for name, value in (("text", text), ("instructions", instructions)):
        try:  # JSON's "\ud800" decodes to a lone surrogate, which no document can hold
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPException(400, f"{name} is not valid Unicode (a lone surrogate)") from None
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > limits.max_text_bytes:
            raise HTTPException(413, f"{name} is over {limits.max_text_bytes // 1024} KB")
    return SignRequest(text, instructions)


def instructions_id(visit_id: str) -> str:
    """The instructions' document identifier (a UUID) for visit ``visit_id``: stable, and
    never the note's."""
    return str(uuid.uuid5(uuid.UUID(visit_id), INSTRUCTIONS_NAME))


def instructions_document(
    note: Note,
    text: str,
    *,
    visit_id: str,
    models,
    period: tuple[datetime, datetime],
    created: datetime | None = None,
) -> dict[str, Any]:
    """The patient instructions of ``note``, signed with the wording ``text``, as a
    FHIR DocumentReference (LOINC 69730-0, docStatus final): built as the signed note
    is (``LiveVisit.sign``), from ``note.instructions_note()``, and naming the note's
    identifier in ``context.related`` as batch's instructions do."""
    from scribe.fhir.document_reference import build_document_reference

    text = text.strip()
    return build_document_reference(
        replace(note.instructions_note(), status="final"),
        text + "\n",
        models=models,
        created=created or datetime.now(timezone.utc),
        identifier=instructions_id(visit_id),
        plain_text=text + "\n",
        period=period,
        related=str(uuid.UUID(visit_id)),  # the signed note's identifier (LiveVisit.sign)
    )


def audit_template(live: LiveVisit) -> str:
    """The audit log's ``template`` field that tells the instructions' records from the
    note's: the visit's template id (already accepted by the log when the visit was
    processed) with ``.instructions``, within the field's 64 characters."""
    return live.template.id[: 64 - len(_SUFFIX)] + _SUFFIX


def sign_visit(live: LiveVisit, request: SignRequest) -> Signed:
    """Sign ``live``'s note (``LiveVisit.sign``) and, unless the instructions are empty,
    its patient instructions. Runs on the compute thread. The instructions document is
    built before the note is signed (signing ends the visit: in privacy mode its draft
    is gone after) and audited once the note's signature is. Lines still marked
    ``[UNSUPPORTED]`` are left out of both. Raises ``VisitStateError`` unless the visit
    is stopped and its note drafted, or when the note text is empty."""
    if live.state is not State.stopped:
        raise VisitStateError(f"visit is {live.state.value}; cannot sign")
    live.require_drafted("sign")
    text, dropped = drop_unsupported(request.text)
    instructions_text, dropped_instructions = drop_unsupported(request.instructions)
    final = live.review()  # the note as the clinician reviewed it (roles as swapped)
    instructions = None
    if instructions_text.strip() and text.strip():
        instructions = instructions_document(
            final.note,
            instructions_text,
            visit_id=live.id,
            models=live.models(final.note),
            period=(live.started_at, live.stopped_at or datetime.now(timezone.utc)),
        )
    doc = live.sign(text)
    if instructions is not None:
        audit_document(live.visit.signed, instructions, template=audit_template(live))
    return Signed(doc, instructions, dropped + (dropped_instructions if instructions is not None else 0))


def export_instructions(live: LiveVisit, document: dict[str, Any]) -> bytes:
    """The signed instructions' FHIR JSON as downloaded, formatted as the note's
    (``LiveVisit.export``); each download is audited."""
    live.last_active = time.monotonic()
    body = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    audit_document(live.visit.exported, body, format="fhir", template=audit_template(live))
    return body


def instructions_sent(live: LiveVisit, document: dict[str, Any]) -> None:
    """The signed instructions were filed on the EHR's FHIR server; audited."""
    live.last_active = time.monotonic()
    audit_document(live.visit.exported, document, format="fhir", template=audit_template(live))

