"""The per-visit unit of work as a library call (what `scribe transcribe`, `scribe record`
and any other runner call): one recording to its files and audit records."""

from __future__ import annotations

import json

from privacy.audit import AuditLog
from privacy.visit import Visit
from scribe.batch import document_sha256, process_recording, write_visit_outputs
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "cough_visit.wav"


def test_process_recording_writes_and_audits_what_leaves(pipeline, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    with Visit(privacy=True, audit=audit) as visit:
        done = process_recording(pipeline, SAMPLE, uri="v1", out=tmp_path, visit=visit)
    # Privacy mode lets out the exported documents only.
    assert done.names == ("v1.note.md", "v1.fhir.json") and done.has_speech
    assert json.loads((tmp_path / "v1.fhir.json").read_text()) == done.document
    exported = [e for e in audit.read() if e["event"] == "note_exported"]
    assert [(e["format"], e["sha256"]) for e in exported] == [
        (fmt, document_sha256(p.read_bytes())) for fmt, p in zip(("md", "fhir"), done.paths)
    ]
    assert done.export is None and done.export_error is None  # no export asked for

    # The same result in standard mode: all five files, in their fixed order.
    (tmp_path / "kept").mkdir()
    with Visit(privacy=False, audit=audit) as visit:
        kept = write_visit_outputs(done.result, source=SAMPLE, uri="v2", out=tmp_path / "kept", visit=visit)
    assert kept.names == tuple(f"v2{s}" for s in (".transcript.json", ".rttm", ".vtt", ".note.md", ".fhir.json"))
    assert all(p.stat().st_size > 0 for p in kept.paths)
