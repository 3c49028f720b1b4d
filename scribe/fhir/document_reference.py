"""The draft note as a FHIR R4 DocumentReference, the form an EHR can file it in.

Built with the R4B models of ``fhir.resources`` (its default models are R5, which an R4
server rejects). The resource carries the note twice, as plain text and as markdown, is
marked ``preliminary`` and labelled AI-asserted (AIAST) so nobody mistakes it for a
signed note, and names the models that drafted it through a contained Device author.
Only what Scribe knows goes in: no patient, encounter or practitioner is invented; a
subject reference is added only when the caller supplies one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scribe.types import INSTRUCTIONS_LOINC, ModelInfo, Note, Transcript

logger = logging.getLogger("scribe.fhir.document_reference")

LOINC = "http://loinc.org"
# LOINC displays for the note types our templates use; an unknown code goes out without
# a display rather than with a made-up one.
LOINC_DISPLAYS = {
    "11506-3": "Progress note",
    "34117-2": "History and physical note",
    "11488-4": "Consult note",
    INSTRUCTIONS_LOINC: "Instructions",  # the after-visit summary (Note.instructions_note)
}
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
URI_SYSTEM = "urn:ietf:rfc:3986"
# Languages: IETF BCP 47 tags (ISO 639-1 codes are BCP 47 tags), the code system FHIR
# names urn:ietf:bcp:47 (https://hl7.org/fhir/R4/terminologies-systems.html).
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
DEVICE_ID = "scribe-device"

TEXT_TYPE = "text/plain; charset=utf-8"
MARKDOWN_TYPE = "text/markdown; charset=utf-8"

# Required bindings the R4B models accept any code for; checked here so a typo in a
# status never reaches an EHR.
STATUSES = frozenset({"current", "superseded", "entered-in-error"})
DOC_STATUSES = frozenset({"preliminary", "final", "amended", "entered-in-error"})
CONTENT_TYPES = frozenset({TEXT_TYPE, MARKDOWN_TYPE})

# Namespace for the content-derived document ids (uuid5 of the note), fixed so the same
# note always gets the same id.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:scribe:document-reference")


class FhirValidationError(ValueError):
    """A DocumentReference that an R4 server would reject; the message is one line."""


def build_document_reference(
    note: Note,
    markdown: str,
    *,
    models: Sequence[ModelInfo],
    created: datetime,
    identifier: str | None = None,
    subject_reference: str | None = None,
    transcript: Transcript | None = None,
    plain_text: str | None = None,
    period: tuple[datetime, datetime] | None = None,
    related: str | None = None,
    languages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The note as validated FHIR R4 DocumentReference JSON (a dict ready for json.dump).

    Each attachment carries the note's language (``Note.language``). ``languages``: the
    languages spoken in the visit, most first (default: ``transcript.languages()`` when a
    transcript is given); when any is not the note's, each is a ``context.event`` (see
    ``_language_events``).

    ``created`` must carry a time zone: FHIR instants without one are invalid and we will
    not guess the clinic's zone. ``identifier`` (a URI or bare UUID: the note, across
    its versions) defaults to a uuid5 of the note and markdown, so writing the same draft
    twice yields the same document id; ``masterIdentifier`` is this version's id. ``transcript``, when given, lets an empty note's plain text say whether the
    recording held no speech at all. ``plain_text`` replaces the text rendered from
    ``note``: the clinician's edited and signed wording (``note.status`` "final").
    ``related``: the identifier (a URI) of a document this one belongs with, put in
    ``context.related``: the patient instructions name their visit note this way.
    """
    # Imported here so that importing this module does not pull in the FHIR models.
    from fhir.resources.R4B.documentreference import DocumentReference

    from scribe import __version__
    from scribe.notes.render import render_note_text

    if created.tzinfo is None or created.utcoffset() is None:
        raise ValueError("created must be timezone-aware (FHIR instants need a zone)")
    when = created.isoformat(timespec="seconds")
    value = _identifier_uri(identifier) if identifier else _content_uuid(note, markdown)
    text = plain_text if plain_text is not None else render_note_text(note, transcript=transcript)
    # identifier names the note across its versions (draft, signed, amended);
    # masterIdentifier names this version: the same text and status, the same id.
    version = f"urn:uuid:{uuid.uuid5(_NAMESPACE, json.dumps([value, note.status, text, markdown]))}"

    coding: dict[str, Any] = {"system": LOINC, "code": note.loinc}
    if note.loinc in LOINC_DISPLAYS:
        coding["display"] = LOINC_DISPLAYS[note.loinc]

    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "meta": {
            "security": [
                {
                    "system": V3_OBSERVATION_VALUE,
                    "code": "AIAST",
                    "display": "Artificial Intelligence asserted",
                }
            ]
        },
        "contained": [_device(models, __version__)],
        "masterIdentifier": {"system": URI_SYSTEM, "value": version},
        "identifier": [{"system": URI_SYSTEM, "value": value}],
        "status": "current",
        "docStatus": note.status,
        "type": {"coding": [coding], "text": note.title},
        "category": [
            {
                "coding": [
                    {"system": US_CORE_CATEGORY, "code": "clinical-note", "display": "Clinical Note"}
                ]
            }
        ],
        "date": when,
        "author": [{"reference": f"#{DEVICE_ID}", "display": "Scribe (AI draft)"}],
        "description": note.title,
        "content": [
            {"attachment": _attachment(TEXT_TYPE, text, f"{note.title} (plain text)", when, note.language)},
            {"attachment": _attachment(MARKDOWN_TYPE, markdown, f"{note.title} (markdown)", when, note.language)},
        ],
    }
    if subject_reference:
        doc["subject"] = {"reference": subject_reference}
    if period is not None:  # when the visit was recorded, if this process saw it happen
        doc["context"] = {"period": {"start": period[0].isoformat(timespec="seconds"),
                                     "end": period[1].isoformat(timespec="seconds")}}
    if languages is None and transcript is not None:
        languages = list(transcript.languages())
    events = _language_events(languages or (), note.language)
    if events:
        doc.setdefault("context", {})["event"] = events
    if related:
        doc.setdefault("context", {})["related"] = [
            {"identifier": {"system": URI_SYSTEM, "value": _identifier_uri(related)}, "display": "Visit note"}
        ]

    try:
        model = DocumentReference.model_validate(doc)
    except Exception as e:  # pydantic.ValidationError; re-raised as one line below
        raise FhirValidationError(_one_line(e)) from None
    out = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    validate_document_reference(out)
    logger.debug(
        "built DocumentReference %s: %d section(s), %d sentence(s), %d model(s)",
        value,
        len(note.sections),
        len(note.sentences()),
        len(models),
    )
    return out


def build_instructions_reference(
    note: Note,
    markdown: str,
    *,
    note_document: dict[str, Any],
    models: Sequence[ModelInfo],
    created: datetime,
    transcript: Transcript | None = None,
) -> dict[str, Any]:
    """The patient instructions of ``note`` (``Note.instructions_note()``) as their own
    validated DocumentReference: type LOINC 69730-0 "Instructions", ``markdown`` the
    instructions' review markdown (``scribe.notes.render.render_instructions_markdown``),
    ``context.related`` the identifier of ``note_document``, the visit note's
    DocumentReference, so an EHR can tell which note they go with. Marked, labelled and
    authored like the note (see ``build_document_reference``)."""
    return build_document_reference(
        note.instructions_note(),
        markdown,
        models=models,
        created=created,
        transcript=transcript,
        related=note_document["identifier"][0]["value"],
    )


def validate_document_reference(d: dict[str, Any]) -> None:
    """Raise FhirValidationError (one line) unless ``d`` is a DocumentReference an R4
    server would accept: the R4B model's rules plus the code bindings it leaves open."""
    from fhir.resources.R4B.documentreference import DocumentReference

    if not isinstance(d, dict) or d.get("resourceType") != "DocumentReference":
        raise FhirValidationError("not a DocumentReference (resourceType missing or different)")
    try:
        DocumentReference.model_validate(d)
    except Exception as e:
        raise FhirValidationError(_one_line(e)) from None
    if d.get("status") not in STATUSES:
        raise FhirValidationError(
            f"DocumentReference.status {d.get('status')!r} is not one of {_choices(STATUSES)}"
        )
    if "docStatus" in d and d["docStatus"] not in DOC_STATUSES:
        raise FhirValidationError(
            f"DocumentReference.docStatus {d['docStatus']!r} is not one of {_choices(DOC_STATUSES)}"
        )
    for i, content in enumerate(d.get("content", [])):
        ctype = content.get("attachment", {}).get("contentType")
        if ctype not in CONTENT_TYPES:
            raise FhirValidationError(
                f"DocumentReference.content[{i}].attachment.contentType {ctype!r} "
                f"is not one of {_choices(CONTENT_TYPES)}"
            )


def _device(models: Sequence[ModelInfo], version: str) -> dict[str, Any]:
    """The drafting software as a contained Device: an author must be a reference, and
    a Device is the R4 resource that can name software and its model versions."""
    names = [{"name": "Scribe", "type": "user-friendly-name"}]
    versions = [{"type": {"text": "Scribe"}, "value": version}]
    for m in models:
        names.append({"name": m.name, "type": "model-name"})
        versions.append({"type": {"text": f"{m.kind} model {m.name}"}, "value": m.version})
    return {
        "resourceType": "Device",
        "id": DEVICE_ID,
        "deviceName": names,
        "version": versions,
        "type": {"text": "AI clinical scribe (local, offline)"},
    }


def _language_events(languages: Sequence[str], note_language: str) -> list[dict[str, Any]]:
    """The languages a visit was held in, as ``DocumentReference.context.event`` codes,
    when any of them is not the note's (a visit held and noted in one language says
    nothing: the attachments' ``language`` says it).

    Why here: FHIR R4 has no element or registered extension for "the language(s) an
    encounter was conducted in". Attachment.language is the note's own language
    (https://hl7.org/fhir/R4/datatypes.html#Attachment); the core Human Language
    extension (http://hl7.org/fhir/StructureDefinition/language) may only sit on
    HumanName, Address, Annotation, string and markdown, i.e. it labels a piece of text
    (https://hl7.org/fhir/extensions/StructureDefinition-language.html), not a visit;
    patient-interpreterRequired and US Core's interpreter-needed say a person needs an
    interpreter (on Patient, Practitioner, RelatedPerson or Encounter;
    https://hl7.org/fhir/extensions/StructureDefinition-patient-interpreterRequired.html),
    which Scribe cannot know; Patient.communication is the patient's record, not
    Scribe's to write. ``context.event`` (0..*, CodeableConcept, "the main clinical acts
    being documented"; its v3-ActCode binding is an example binding, so any code system
    may be used: https://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.context.event)
    is the DocumentReference's own place for what the documented visit was; each
    language spoken is one event coded in the standard language code system
    (urn:ietf:bcp:47), with text a reader can take in at a glance. It needs no
    extension, so every R4 server accepts it (tests/test_note_language.py checks with
    the test FHIR server)."""
    spoken = [code for code in dict.fromkeys(languages) if code]
    if not spoken or all(code == note_language for code in spoken):
        return []
    return [
        {"coding": [{"system": LANGUAGE_SYSTEM, "code": code}],
         "text": f"Visit conducted in language {code} (note written in {note_language})"}
        for code in spoken
    ]


def _attachment(content_type: str, body: str, title: str, when: str, language: str | None = None) -> dict[str, Any]:
    data = body.encode("utf-8")
    out: dict[str, Any] = {"contentType": content_type}
    if language:
        # Attachment.language: the BCP 47 tag of the content's language (Note.language).
        out["language"] = language
    return out | {
        "data": base64.b64encode(data).decode("ascii"),
        # size and SHA-1 hash let a receiver check the payload arrived intact.
        "size": len(data),
        "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
        "title": title,
        "creation": when,
    }


def _content_uuid(note: Note, markdown: str) -> str:
    # The markdown names the recording, so two recordings that both yield an empty note
    # still get different ids; the same draft written twice keeps its id.
    canonical = json.dumps(
        {"note": note.to_dict(), "markdown": markdown}, sort_keys=True, ensure_ascii=False
    )
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, canonical)}"


def _identifier_uri(identifier: str) -> str:
    try:
        return f"urn:uuid:{uuid.UUID(identifier)}"
    except ValueError:
        pass
    if ":" not in identifier or any(c.isspace() for c in identifier):
        raise ValueError(f"identifier {identifier!r} is neither a UUID nor a URI")
    return identifier


def _one_line(e: Exception, kind: str = "DocumentReference") -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        errs = errors()
        if errs:
            first = errs[0]
            loc = ".".join(str(p) for p in first.get("loc", ())) or "(resource)"
            more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
            msg = " ".join(str(first.get("msg", "invalid")).split())
            return f"{kind}.{loc}: {msg}{more}"
    return " ".join(str(e).split()) or type(e).__name__


def validate_bundle(bundle: dict[str, Any], bundle_type: str) -> None:
    """Raise FhirValidationError (one line) unless ``bundle`` passes the R4B Bundle model
    and is of ``bundle_type``; the caller checks the rules of that type."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(bundle)
    except Exception as e:
        raise FhirValidationError(_one_line(e, "Bundle")) from None
    if bundle.get("type") != bundle_type:
        raise FhirValidationError(f"Bundle.type {bundle.get('type')!r} is not {bundle_type!r}")


def _choices(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))
