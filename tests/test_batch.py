"""The per-visit unit of work as a library call (what `scribe transcribe`, `scribe record`
and any other runner call): one recording to its files and audit records."""

from __future__ import annotations

import json

from privacy.audit import AuditLog
from privacy.visit import Visit
from scribe.batch import document_sha256, process_recording, write_visit_outputs
from scribe.batch.visit import AUDIT_FORMATS as FORMATS
from scribe.batch.visit import NOTE_SUFFIXES
from scribe.types import Note
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "cough_visit.wav"


def test_process_recording_writes_and_audits_what_leaves(pipeline, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    with Visit(privacy=True, audit=audit) as visit:
        done = process_recording(pipeline, SAMPLE, uri="v1", out=tmp_path, visit=visit)
    # Privacy mode lets out the note's documents only (the instructions' when there are any).
    instructions = done.instructions_document is not None
    assert instructions == bool(done.result.note.instructions)
    documents = NOTE_SUFFIXES if instructions else (".note.md", ".note.json", ".fhir.json")
    assert done.names == tuple(f"v1{s}" for s in documents) and done.has_speech
    assert json.loads((tmp_path / "v1.fhir.json").read_text()) == done.document
    assert Note.from_dict(json.loads((tmp_path / "v1.note.json").read_text())) == done.result.note
    exported = [e for e in audit.read() if e["event"] == "note_exported"]
    assert [(e["format"], e["sha256"]) for e in exported] == [
        (FORMATS[s], document_sha256(p.read_bytes())) for s, p in zip(documents, done.paths)
    ]
    assert done.export is None and done.export_error is None  # no export asked for

    # The same result in standard mode: the transcript's files too, in their fixed order.
    (tmp_path / "kept").mkdir()
    with Visit(privacy=False, audit=audit) as visit:
        kept = write_visit_outputs(done.result, source=SAMPLE, uri="v2", out=tmp_path / "kept", visit=visit)
    assert kept.names == tuple(f"v2{s}" for s in (".transcript.json", ".rttm", ".vtt", *documents))
    assert all(p.stat().st_size > 0 for p in kept.paths)


def test_instructions_are_written_sent_and_audited(pipeline, tmp_path):
    """A note with patient instructions (set by hand: the drafter may write none for this
    sample): NAME.instructions.md and NAME.instructions.fhir.json (LOINC 69730-0, naming
    the note's DocumentReference) beside the note, both audited, and the instructions'
    transaction written after the note's when there is no FHIR server."""
    from dataclasses import replace

    from scribe.batch import FhirExport
    from scribe.batch.visit import send_instructions
    from scribe.config import FhirConfig
    from scribe.fhir.client import ClinicalContext
    from scribe.types import INSTRUCTIONS_LOINC, NoteSentence

    audit = AuditLog(tmp_path / "audit.jsonl")
    with Visit(privacy=True, audit=audit) as visit:
        result = pipeline.process(SAMPLE, uri="v3", visit=visit)
        first = result.transcript.segments[0].id
        note = replace(result.note, instructions=(NoteSentence("Drink plenty of fluids.", (first,)),))
        done = write_visit_outputs(replace(result, note=note), source=SAMPLE, uri="v3", out=tmp_path, visit=visit)
    assert done.names == tuple(f"v3{s}" for s in NOTE_SUFFIXES)
    text = (tmp_path / "v3.instructions.md").read_text()
    assert "Drink plenty of fluids." in text and f"[{first} 00:" in text and "DRAFT" in text
    doc = json.loads((tmp_path / "v3.instructions.fhir.json").read_text())
    assert doc == done.instructions_document
    assert doc["type"]["coding"][0] == {"system": "http://loinc.org", "code": INSTRUCTIONS_LOINC, "display": "Instructions"}
    assert doc["context"]["related"][0]["identifier"]["value"] == done.document["identifier"][0]["value"]
    exported = [(e["format"], e["sha256"]) for e in audit.read() if e["event"] == "note_exported"]
    assert exported == [(FORMATS[s], document_sha256(p.read_bytes())) for s, p in zip(NOTE_SUFFIXES, done.paths)]

    context = ClinicalContext(patient="Patient/p1", practitioner="Practitioner/d1", encounter="Encounter/e1",
                              organization="Organization/o1")
    sent = send_instructions(done, FhirExport(context, FhirConfig()), out=tmp_path / "v3.instructions.transaction.json",
                             source="v3")
    assert sent.export_error is None and sent.instructions_export is not None
    bundle = json.loads((tmp_path / "v3.instructions.transaction.json").read_text())
    filed = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert filed[0]["type"]["coding"][0]["code"] == INSTRUCTIONS_LOINC
    assert filed[0]["context"]["related"] == doc["context"]["related"]  # kept beside the encounter
