"""Signing a live visit's note with its patient instructions (scribe.service.signing), on
notes built by hand: the request's checks, the instructions' DocumentReference, and what
is signed and audited in which order. No service process, no models."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from fastapi import HTTPException

from scribe.batch.export import document_sha256
from scribe.fhir.document_reference import validate_document_reference
from scribe.live.events import FinalEvent
from scribe.live.visit import State, VisitStateError
from scribe.service.app import RECORDER_SCRIPTS, recorder_page
from scribe.service.capture import Limits
from scribe.service.signing import (
    SignRequest,
    audit_template,
    export_instructions,
    instructions_document,
    instructions_id,
    sign_request,
    sign_visit,
)
from scribe.types import ModelInfo, Note, NoteSection, NoteSentence, Omission, Role, Segment, Transcript

VISIT = uuid.uuid4().hex
START = datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc)
MODELS = (ModelInfo("drafter", "extractive", "1"),)
SEGMENTS = (
    Segment("s0", 0.0, 3.0, "I've had a cough for a week and a fever.", speaker="A", role=Role.PATIENT),
    Segment("s1", 3.0, 7.0, "Drink plenty of fluids and come back if the fever lasts.", speaker="B", role=Role.CLINICIAN),
)
NOTE = Note(
    "soap", "SOAP note", "11506-3",
    (NoteSection("s", "Subjective", (NoteSentence("Cough for a week.", ("s0",)),), loinc="10164-2"),),
    instructions=(NoteSentence("Drink plenty of fluids.", ("s1",)), NoteSentence("Come back if the fever lasts.", ("s1",))),
    omissions=(Omission("symptom", "fever", ("s0",)),),
    drafter="extractive", drafter_version="1",
)
EDITED = "## Your instructions\n\n- Drink plenty of fluids.\n- Rest for three days.\n"


# -- the request ------------------------------------------------------------------------


def test_sign_request_reads_both_texts():
    limits = Limits()
    assert sign_request({"text": "Note."}, limits) == SignRequest("Note.", "")
    assert sign_request({"text": "Note.", "instructions": None}, limits) == SignRequest("Note.", "")
    assert sign_request({"text": "Note.", "instructions": EDITED}, limits) == SignRequest("Note.", EDITED)


@pytest.mark.parametrize(
    "body, status, reason",
    [
        ({}, 400, "text (the note as signed) is required"),
        ({"text": None, "instructions": "Rest."}, 400, "text (the note as signed) is required"),
        ({"text": "Note.", "instructions": 1}, 400, "instructions (the patient instructions as signed) must be text"),
        ({"text": "Note.", "instructions": ["a"]}, 400, "instructions (the patient instructions as signed) must be text"),
        ({"text": "Note.", "instructions": "é" * 513}, 413, "instructions is over 1 KB"),  # 1026 bytes in UTF-8
        ({"text": "x" * 1025, "instructions": ""}, 413, "text is over 1 KB"),
        ({"text": "Cough \ud800."}, 400, "text is not valid Unicode (a lone surrogate)"),  # JSON "\ud800"
        ({"text": "Note.", "instructions": "\udfff"}, 400, "instructions is not valid Unicode (a lone surrogate)"),
    ],
)
def test_sign_request_refusals_are_one_line(body, status, reason):
    with pytest.raises(HTTPException) as e:
        sign_request(body, Limits(max_text_bytes=1024))
    assert (e.value.status_code, e.value.detail) == (status, reason)
    assert "\n" not in e.value.detail and "é" not in e.value.detail


# -- the instructions' document -----------------------------------------------------------


def test_instructions_document_is_the_signed_wording_under_its_own_type_and_id():
    doc = instructions_document(NOTE, EDITED + "\n\n", visit_id=VISIT, models=MODELS,
                                period=(START, START + timedelta(minutes=12)), created=START)
    validate_document_reference(doc)
    assert doc["type"]["coding"][0]["code"] == "69730-0" and doc["type"]["text"] == "Patient instructions"
    assert doc["docStatus"] == "final" and doc["status"] == "current"
    assert [base64.b64decode(c["attachment"]["data"]).decode() for c in doc["content"]] == [EDITED] * 2
    assert doc["identifier"][0]["value"] == f"urn:uuid:{instructions_id(VISIT)}"
    assert instructions_id(VISIT) == instructions_id(VISIT) != str(uuid.UUID(VISIT))
    assert doc["context"]["period"] == {"start": "2025-03-04T09:00:00Z", "end": "2025-03-04T09:12:00Z"}
    # They name the note they go with: the signed note's identifier is the visit's UUID.
    assert doc["context"]["related"][0]["identifier"]["value"] == f"urn:uuid:{uuid.UUID(VISIT)}"


# -- signing both, and the audit --------------------------------------------------------


@dataclass
class FakeVisit:
    """The privacy container's audit hooks, recorded in order."""

    audit: list = field(default_factory=list)

    def signed(self, **fields):
        self.audit.append(("note_signed", fields))

    def exported(self, **fields):
        self.audit.append(("note_exported", fields))


class FakeLive:
    """A stopped ``LiveVisit`` whose drafted note is ``NOTE``: sign records the signature
    and ends the review, as the real one does."""

    def __init__(self, note: Note = NOTE):
        self.id = VISIT
        self.note = note
        self.state = State.stopped
        self.visit = FakeVisit()
        self.pipeline = SimpleNamespace(models=MODELS)
        self.template = SimpleNamespace(id="soap")
        self.started_at, self.stopped_at = START, START + timedelta(minutes=12)
        self.last_active = 0.0
        self.drafting = False

    def require_drafted(self, action: str) -> None:
        if self.drafting:
            raise VisitStateError(f"the note is still being drafted with llm; {action} once it is ready")

    def models(self, note: Note) -> tuple:
        return MODELS

    def review(self) -> FinalEvent:
        if self.state is not State.stopped:
            raise VisitStateError(f"visit is {self.state.value}; nothing to review")
        return FinalEvent(True, Transcript(SEGMENTS, 7.0, "en"), self.note, "")

    def sign(self, text: str) -> dict:
        if self.state is not State.stopped:
            raise VisitStateError(f"visit is {self.state.value}; cannot sign")
        if not text.strip():
            raise VisitStateError("the note is empty; nothing to sign")
        self.state = State.signed
        doc = {"resourceType": "DocumentReference", "note": text}
        self.visit.signed(sha256=document_sha256(doc))
        return doc


def test_sign_visit_signs_the_note_then_the_instructions():
    live = FakeLive()
    signed = sign_visit(live, SignRequest("## Subjective\n\n- Cough.\n", EDITED))
    assert signed.note == {"resourceType": "DocumentReference", "note": "## Subjective\n\n- Cough.\n"}
    assert signed.instructions["type"]["coding"][0]["code"] == "69730-0"
    # Metadata only: the hashes, the note's first; the instructions named by template.
    assert live.visit.audit == [
        ("note_signed", {"sha256": document_sha256(signed.note)}),
        ("note_signed", {"sha256": document_sha256(signed.instructions), "template": "soap.instructions"}),
    ]
    body = export_instructions(live, signed.instructions)
    assert live.visit.audit[-1] == ("note_exported", {"sha256": document_sha256(body), "format": "fhir",
                                                      "template": "soap.instructions"})


@pytest.mark.parametrize("instructions", ["", "  \n\t", "\n"])
def test_empty_instructions_sign_the_note_alone(instructions):
    live = FakeLive()
    signed = sign_visit(live, SignRequest("## Subjective\n\n- Cough.\n", instructions))
    assert signed.instructions is None
    assert [event for event, _ in live.visit.audit] == ["note_signed"]


def test_typed_instructions_are_signed_when_the_drafter_gave_none():
    from dataclasses import replace

    live = FakeLive(replace(NOTE, instructions=()))
    signed = sign_visit(live, SignRequest("## Subjective\n\n- Cough.\n", "- Rest."))
    assert base64.b64decode(signed.instructions["content"][0]["attachment"]["data"]).decode() == "- Rest.\n"


def test_nothing_is_signed_or_audited_when_the_note_cannot_be():
    live = FakeLive()
    with pytest.raises(VisitStateError):
        sign_visit(live, SignRequest("  ", EDITED))  # an empty note
    live.state = State.recording
    with pytest.raises(VisitStateError, match="visit is recording; cannot sign"):
        sign_visit(live, SignRequest("Note.", EDITED))
    assert live.visit.audit == []


def test_audit_template_fits_the_audit_field():
    live = FakeLive()
    live.template = SimpleNamespace(id="t" * 64)
    assert audit_template(live) == "t" * 51 + ".instructions" and len(audit_template(live)) == 64


# -- the page -----------------------------------------------------------------------------


def test_recorder_page_inlines_every_script_under_the_nonce():
    page = recorder_page("NONCE123")
    assert RECORDER_SCRIPTS == ("review.js", "recorder.js", "enroll.js")
    assert "<script src=" not in page and 'rel="stylesheet"' not in page
    assert page.count('<script nonce="NONCE123">') == 3 and page.count('<style nonce="NONCE123">') == 1
    # The review side first: recorder.js calls what review.js defines; enroll.js uses
    # recorder.js's helpers ($, api, resample) at load.
    assert page.index("function showReview(") < page.index("function handle(") < page.index("function recordVoice(")
    for panel in ('id="instructions-draft"', 'id="instructions-editor"', 'id="omissions"', "Possibly missing from the note"):
        assert panel in page


# -- flagged sentences and model drafts ----------------------------------------------------


def test_lines_still_marked_unsupported_are_left_out_of_what_is_signed():
    """The sign rule: a line the clinician neither accepted (mark removed) nor deleted is
    left out of the signed note and instructions, and counted."""
    live = FakeLive()
    text = ("## Subjective\n\n- Cough for a week.\n- [UNSUPPORTED] Left knee pain.\n"
            "- Fever since Monday.\n  - [UNSUPPORTED] Started warfarin 20 mg.\n")
    instructions = "## Your instructions\n\n- [UNSUPPORTED] Take 40 mg.\n- Drink plenty of fluids.\n"
    signed = sign_visit(live, SignRequest(text, instructions))
    assert signed.note["note"] == "## Subjective\n\n- Cough for a week.\n- Fever since Monday.\n"
    data = base64.b64decode(signed.instructions["content"][0]["attachment"]["data"]).decode()
    assert data == "## Your instructions\n\n- Drink plenty of fluids.\n"
    assert signed.left_out == 3


def test_a_note_of_only_unsupported_lines_is_not_signed():
    live = FakeLive()
    with pytest.raises(VisitStateError, match="empty"):
        sign_visit(live, SignRequest("- [UNSUPPORTED] Left knee pain.\n", EDITED))
    assert live.visit.audit == [] and live.state is State.stopped


def test_signing_waits_for_the_model_draft():
    live = FakeLive()
    live.drafting = True
    with pytest.raises(VisitStateError, match="still being drafted with llm; sign once it is ready"):
        sign_visit(live, SignRequest("## Subjective\n\n- Cough.\n", EDITED))
    assert live.visit.audit == [] and live.state is State.stopped


# -- the audit trail of a real visit: hashes agree, the end comes last -----------------------


def _signed_live_visit(tmp_path):
    """A real ``LiveVisit`` (its sign, export and sent), stopped with ``NOTE`` drafted, in a
    real privacy-mode ``Visit`` auditing to a real, keyed ``AuditLog``. Built without its
    streaming session: no models are needed to sign."""
    from privacy.audit import AuditLog
    from privacy.visit import Visit
    from scribe.live.visit import LiveVisit

    audit = AuditLog(tmp_path / "audit.jsonl", key_path=tmp_path / "site.key")
    live = object.__new__(LiveVisit)
    live.visit = Visit(privacy=True, audit=audit)
    live.id = live.visit.visit_id
    live.pipeline = SimpleNamespace(models=MODELS)
    live.template = SimpleNamespace(id="soap")
    live.model_drafter, live.model_note, live.draft, live._draft_new = None, None, None, None
    live.result = SimpleNamespace(transcript=Transcript(SEGMENTS, 7.0, "en"), note=NOTE)
    live.state, live.swapped, live.session, live._roles = State.stopped, False, None, {}
    live.started_at, live.stopped_at = START, START + timedelta(minutes=12)
    live.last_active, live.signed_document = 0.0, None
    return live, audit


def test_signed_downloaded_sent_and_written_documents_hash_the_same(tmp_path):
    """note_signed and every note_exported of one document carry one hash (issue 12 item 6):
    the signature hashed the resource, the download its indented JSON, the batch file its
    JSON with a final newline; all are the document's canonical JSON."""
    from scribe.batch.export import canonical_json
    from scribe.batch.outputs import write_fhir
    from scribe.service.signing import instructions_sent

    live, audit = _signed_live_visit(tmp_path)
    signed = sign_visit(live, SignRequest("## Subjective\n\n- Cough.\n", EDITED))
    body = live.export()  # the download, as LiveVisit serves it
    assert body != canonical_json(signed.note)  # laid out differently...
    live.sent()
    export_instructions(live, signed.instructions)
    instructions_sent(live, signed.instructions)
    note_hash, instructions_hash = document_sha256(signed.note), document_sha256(signed.instructions)
    assert note_hash != instructions_hash
    records = [(r["event"], r.get("template"), r["sha256"]) for r in audit.read() if "sha256" in r]
    assert records == [  # ...hashed the same
        ("note_signed", None, note_hash),
        ("note_signed", "soap.instructions", instructions_hash),
        ("note_exported", None, note_hash),
        ("note_exported", None, note_hash),
        ("note_exported", "soap.instructions", instructions_hash),
        ("note_exported", "soap.instructions", instructions_hash),
    ]
    written = write_fhir(signed.note, tmp_path / "note.fhir.json").read_bytes()
    assert written.endswith(b"\n") and document_sha256(written) == note_hash
    assert document_sha256(b"## Subjective\n") == hashlib.sha256(b"## Subjective\n").hexdigest()  # not JSON: as is


@pytest.mark.parametrize("reason", ["user_request", "timeout", "service_stopped"])
def test_a_signed_visit_ends_in_the_audit_log_after_its_exports(tmp_path, reason):
    """note_exported came after visit_closed: signing closes the visit (key destroyed) but
    its note is exported later. The visit's end is recorded when the service lets the
    signed note go (CaptureService.discard), once."""
    from scribe.service.capture import CaptureService

    live, audit = _signed_live_visit(tmp_path)
    sign_visit(live, SignRequest("## Subjective\n\n- Cough.\n", EDITED))
    assert live.visit._closed  # the visit's key and buffers are gone at signing, as before
    live.export()
    service = SimpleNamespace(visits={live.id: live}, signed_instructions={live.id: {}}, streamed={live.id})
    CaptureService.discard(service, live, reason)
    CaptureService.discard(service, live, reason)  # idempotent
    events = [(r["event"], r.get("template"), r.get("reason")) for r in audit.read()]
    assert events == [
        ("visit_opened", None, None),
        ("note_signed", None, None),
        ("note_signed", "soap.instructions", None),
        ("note_exported", None, None),
        ("visit_closed", None, reason),
    ]
    assert service.visits == {} and audit.verify() == []


def test_an_unsigned_visit_still_ends_when_it_closes(tmp_path):
    from scribe.service.capture import CaptureService

    live, audit = _signed_live_visit(tmp_path)
    CaptureService.discard(SimpleNamespace(visits={}, signed_instructions={}, streamed=set()), live, "user_request")
    assert [(r["event"], r.get("reason")) for r in audit.read()] == [
        ("visit_opened", None), ("visit_discarded", "user_request")]
