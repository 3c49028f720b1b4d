"""The FHIR R4 DocumentReference: valid under R4B, carries the note, says it is an AI draft."""

from __future__ import annotations

import base64
import copy
from dataclasses import replace
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fhir.resources.R4B.documentreference import DocumentReference

from scribe.batch import outputs as writers
from scribe.notes import render
from scribe.fhir.document_reference import FhirValidationError, build_document_reference, validate_document_reference
from scribe.types import Transcript
from tests.test_writers import MODELS, empty_note, make_note, markdown

CREATED = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)


def build(**kwargs) -> dict:
    return build_document_reference(make_note(), markdown(), models=MODELS, created=CREATED, **kwargs)


def attachment(doc: dict, content_type: str) -> dict:
    (att,) = [c["attachment"] for c in doc["content"] if c["attachment"]["contentType"] == content_type]
    return att


def test_written_json_validates_under_r4b(tmp_path: Path):
    path = writers.write_fhir(build(), tmp_path / "visit1.fhir.json")
    parsed = DocumentReference.model_validate(json.loads(path.read_text(encoding="utf-8")))
    assert parsed.status == "current"
    assert parsed.docStatus == "preliminary"


def test_core_fields():
    doc = build()
    assert doc["resourceType"] == "DocumentReference"
    assert doc["status"] == "current"
    assert doc["docStatus"] == "preliminary"
    assert doc["type"]["coding"] == [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]
    assert doc["category"][0]["coding"][0]["code"] == "clinical-note"
    assert doc["category"][0]["coding"][0]["system"] == (
        "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
    )
    assert doc["description"] == "SOAP progress note"
    assert doc["date"].startswith("2025-03-04T09:30:00")
    assert doc["masterIdentifier"]["system"] == "urn:ietf:rfc:3986"
    assert doc["masterIdentifier"]["value"].startswith("urn:uuid:")
    assert "subject" not in doc  # nothing invented


def test_aiast_security_label():
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "AIAST",
        "display": "Artificial Intelligence asserted",
    } in build()["meta"]["security"]


def test_attachments_carry_the_note():
    doc = build()
    assert sorted(c["attachment"]["contentType"] for c in doc["content"]) == [
        "text/markdown; charset=utf-8",
        "text/plain; charset=utf-8",
    ]
    text = attachment(doc, "text/plain; charset=utf-8")
    md = attachment(doc, "text/markdown; charset=utf-8")
    assert base64.b64decode(text["data"]).decode("utf-8") == render.render_note_text(make_note())
    assert base64.b64decode(md["data"]).decode("utf-8") == markdown()
    raw = base64.b64decode(md["data"])
    assert md["size"] == len(raw)
    assert base64.b64decode(md["hash"]) == hashlib.sha1(raw).digest()
    for att in (text, md):
        assert att["title"] and att["creation"].startswith("2025-03-04")


def test_models_named_by_contained_device_author():
    doc = build()
    (device,) = doc["contained"]
    assert device["resourceType"] == "Device"
    assert doc["author"][0]["reference"] == f"#{device['id']}"
    names = {n["name"] for n in device["deviceName"]}
    assert {"Scribe", "tiny.en", "rules"} <= names
    versions = {v["type"]["text"]: v["value"] for v in device["version"]}
    assert versions["speech model tiny.en"] == "1.0"


def test_identifier_is_stable_and_overridable():
    assert build()["masterIdentifier"] == build()["masterIdentifier"]
    other = build_document_reference(
        empty_note(), markdown(empty_note()), models=MODELS, created=CREATED
    )
    assert other["masterIdentifier"] != build()["masterIdentifier"]
    given = "0b4c1c1e-8f7a-4d0e-9b1a-2f1e8c3d4a5b"
    draft = build(identifier=given)
    assert draft["identifier"][0]["value"] == f"urn:uuid:{given}"
    # The same note, signed: the same identifier, another version id.
    signed = build_document_reference(replace(make_note(), status="final"), markdown(), models=MODELS,
                                      created=CREATED, identifier=given)
    assert signed["identifier"] == draft["identifier"]
    assert signed["masterIdentifier"] != draft["masterIdentifier"]


def test_subject_only_when_given():
    assert build(subject_reference="Patient/123")["subject"] == {"reference": "Patient/123"}


def test_other_loinc_types():
    for code, display in (("34117-2", "History and physical note"), ("11488-4", "Consult note")):
        note = replace(make_note(), loinc=code)
        doc = build_document_reference(note, markdown(note), models=MODELS, created=CREATED)
        assert doc["type"]["coding"][0] == {"system": "http://loinc.org", "code": code, "display": display}


def test_empty_note_document():
    silent = Transcript((), 2.0, "en")
    note = empty_note()
    doc = build_document_reference(
        note, markdown(note, silent), models=MODELS, created=CREATED, transcript=silent
    )
    text = base64.b64decode(attachment(doc, "text/plain; charset=utf-8")["data"]).decode()
    assert "Nothing was captured: no speech was detected in this recording." in text


def test_naive_created_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        build_document_reference(make_note(), markdown(), models=MODELS, created=datetime(2025, 1, 1))


def test_rejects_draft_doc_status():
    doc = build()
    doc["docStatus"] = "draft"
    with pytest.raises(FhirValidationError) as e:
        validate_document_reference(doc)
    assert "docStatus" in str(e.value) and "\n" not in str(e.value)


def test_build_rejects_note_with_bad_status():
    note = replace(make_note(), status="draft")
    with pytest.raises(FhirValidationError, match="docStatus"):
        build_document_reference(note, markdown(note), models=MODELS, created=CREATED)


def test_rejects_wrong_content_type():
    doc = build()
    doc["content"][1]["attachment"]["contentType"] = "text/html"
    with pytest.raises(FhirValidationError) as e:
        validate_document_reference(doc)
    assert "contentType" in str(e.value) and "\n" not in str(e.value)


def test_rejects_what_r4b_rejects_in_one_line():
    doc = copy.deepcopy(build())
    del doc["status"]
    doc["bogus"] = 1
    with pytest.raises(FhirValidationError) as e:
        validate_document_reference(doc)
    assert "\n" not in str(e.value)
    with pytest.raises(FhirValidationError):
        validate_document_reference({"resourceType": "Patient"})


def test_instructions_are_their_own_document():
    from scribe.fhir.document_reference import build_instructions_reference
    from tests.test_writers import make_transcript, note_with_extras

    note = note_with_extras()
    doc = build_document_reference(note, markdown(note), models=MODELS, created=CREATED)
    body = render.render_instructions_markdown(note, make_transcript(), uri="visit1")
    instructions = build_instructions_reference(note, body, note_document=doc, models=MODELS, created=CREATED)
    validate_document_reference(instructions)
    parsed = DocumentReference.model_validate(instructions)  # R4B accepts it as it is
    assert parsed.type.coding[0].code == "69730-0" and parsed.type.coding[0].display == "Instructions"
    assert instructions["docStatus"] == "preliminary" and instructions["meta"]["security"][0]["code"] == "AIAST"
    assert instructions["description"] == "Patient instructions"
    assert instructions["context"]["related"] == [
        {"identifier": {"system": "urn:ietf:rfc:3986", "value": doc["identifier"][0]["value"]}, "display": "Visit note"}
    ]
    assert instructions["identifier"] != doc["identifier"]
    text = base64.b64decode(attachment(instructions, "text/plain; charset=utf-8")["data"]).decode()
    assert "Use the inhaler twice a day." in text and "Start an inhaler." not in text
    assert base64.b64decode(attachment(instructions, "text/markdown; charset=utf-8")["data"]).decode() == body
