"""The note as a FHIR document: a Bundle of type ``document`` led by a Composition whose
sections carry LOINC section codes and XHTML narrative (``scribe export --bundle``).

Built from the DocumentReference's markdown (what the clinician signed), so the
document says exactly what the note says: each ``## Heading`` is a section, its lines
the section's narrative; evidence references (``[s3 00:12]``) are dropped, as they point
into a transcript the EHR does not have. Section codes come from the templates (a
heading matching a template section's title gets its LOINC code).
"""

from __future__ import annotations

import base64
import html
import re
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from scribe.fhir.document_reference import LOINC, MARKDOWN_TYPE, URI_SYSTEM, FhirValidationError, validate_bundle
from scribe.types import INSTRUCTIONS_LOINC, Note

XHTML = "http://www.w3.org/1999/xhtml"
COMPOSITION_STATUSES = frozenset({"preliminary", "final", "amended", "entered-in-error"})
ATTESTER_MODES = frozenset({"personal", "professional", "legal", "official"})
# LOINC section displays for the codes the templates use.
SECTION_DISPLAYS = {
    "10154-3": "Chief complaint Narrative - Reported",
    "10164-2": "History of Present illness Narrative",
    "10187-3": "Review of systems Narrative - Reported",
    "29545-1": "Physical findings Narrative",
    "30954-2": "Relevant diagnostic tests/laboratory data Narrative",
    "51848-0": "Evaluation note",
    "18776-5": "Plan of care note",
    "10160-0": "History of Medication use Narrative",
    "48765-2": "Allergies and adverse reactions Document",
    INSTRUCTIONS_LOINC: "Instructions",
    "51847-2": "Evaluation + Plan note",
    "42349-1": "Reason for referral (narrative)",
}
_REFS = re.compile(r"\s*\[(?:s\d+(?: \d\d:\d\d)?(?:, )?)+\]\s*$")
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:scribe:fhir-document")


def section_codes() -> dict[str, str]:
    """Section title (lower case) -> LOINC code, from every template."""
    from scribe.notes.templates import available_templates, load_template

    codes: dict[str, str] = {}
    for name in available_templates():
        for sec in load_template(name).sections:
            if sec.loinc:
                codes.setdefault(sec.title.lower(), sec.loinc)
    # The patient instructions' one section (Note.instructions_note).
    instructions = Note("", "", INSTRUCTIONS_LOINC, ()).instructions_note().sections[0]
    codes.setdefault(instructions.title.lower(), INSTRUCTIONS_LOINC)
    return codes


def sections_from_markdown(markdown: str) -> list[tuple[str, list[str]]]:
    """(title, lines) for each ``## `` heading; a note without headings is one section."""
    found: list[tuple[str, list[str]]] = []
    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith("## "):
            found.append((line[3:].strip(), []))
        elif line.startswith("---"):
            break
        elif line and found and not line.startswith(("#", ">")):
            found[-1][1].append(_REFS.sub("", line.removeprefix("- ").strip("_")))
    if not found:
        body = [ln.strip() for ln in markdown.splitlines() if ln.strip()]
        found = [("Note", body)]
    return found


def _narrative(lines: list[str]) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    inner = f"<ul>{items}</ul>" if items else "<p>Not discussed.</p>"
    return f'<div xmlns="{XHTML}">{inner}</div>'


def build_document_bundle(transaction_doc: dict[str, Any], device: dict[str, Any], device_ref: str) -> dict[str, Any]:
    """The document Bundle for a DocumentReference already completed for the EHR
    (subject, encounter, author, custodian set: see ``scribe.fhir.client``)."""
    markdown = next(
        base64.b64decode(c["attachment"]["data"]).decode("utf-8")
        for c in transaction_doc["content"]
        if c["attachment"]["contentType"] == MARKDOWN_TYPE
    )
    codes = section_codes()
    sections = []
    for title, lines in sections_from_markdown(markdown):
        section: dict[str, Any] = {"title": title, "text": {"status": "generated", "div": _narrative(lines)}}
        code = codes.get(title.lower())
        if code:
            coding = {"system": LOINC, "code": code}
            if code in SECTION_DISPLAYS:
                coding["display"] = SECTION_DISPLAYS[code]
            section["code"] = {"coding": [coding]}
        sections.append(section)
    version = transaction_doc["masterIdentifier"]["value"]
    comp_url = f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'composition:' + version)}"
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "meta": transaction_doc.get("meta", {}),
        "identifier": {"system": URI_SYSTEM, "value": version},
        "status": transaction_doc["docStatus"],
        "type": transaction_doc["type"],
        "category": transaction_doc.get("category", []),
        "subject": transaction_doc["subject"],
        "encounter": transaction_doc["context"]["encounter"][0],
        "date": transaction_doc["date"],
        "author": transaction_doc["author"],
        "title": transaction_doc.get("description") or transaction_doc["type"].get("text", "Clinical note"),
        "custodian": transaction_doc["custodian"],
        "section": sections,
    }
    language = transaction_doc["content"][0]["attachment"].get("language")
    if language:  # Resource.language: the note's (Attachment.language), the language the document is written in
        composition["language"] = language
    if transaction_doc.get("authenticator"):
        composition["attester"] = [{"mode": "legal", "time": transaction_doc["date"], "party": transaction_doc["authenticator"]}]
    bundle = {
        "resourceType": "Bundle",
        "identifier": {"system": URI_SYSTEM, "value": f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'document:' + version)}"},
        "type": "document",
        "timestamp": transaction_doc["date"],
        "entry": [
            {"fullUrl": comp_url, "resource": composition},
            {"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, device_ref)}", "resource": device},
        ],
    }
    validate_document_bundle(bundle)
    return bundle


def validate_document_bundle(bundle: dict[str, Any]) -> None:
    """The document rules the R4B models do not check, plus the models themselves."""
    validate_bundle(bundle, "document")
    for field in ("identifier", "timestamp"):
        if not bundle.get(field):
            raise FhirValidationError(f"Bundle.{field}: a document needs one")
    entries = bundle.get("entry") or []
    if not entries or entries[0].get("resource", {}).get("resourceType") != "Composition":
        raise FhirValidationError("Bundle.entry[0]: a document starts with its Composition")
    for i, entry in enumerate(entries):
        if not entry.get("fullUrl"):
            raise FhirValidationError(f"Bundle.entry[{i}].fullUrl: missing")
    comp = entries[0]["resource"]
    if comp.get("status") not in COMPOSITION_STATUSES:
        raise FhirValidationError(f"Composition.status {comp.get('status')!r} is not one of {', '.join(sorted(COMPOSITION_STATUSES))}")
    for j, att in enumerate(comp.get("attester", [])):
        if att.get("mode") not in ATTESTER_MODES:
            raise FhirValidationError(f"Composition.attester[{j}].mode {att.get('mode')!r} is not one of {', '.join(sorted(ATTESTER_MODES))}")
    for j, sec in enumerate(comp.get("section", [])):
        div = (sec.get("text") or {}).get("div", "")
        try:
            root = ET.fromstring(div)
        except ET.ParseError as e:
            raise FhirValidationError(f"Composition.section[{j}].text.div: not well-formed XHTML ({e})") from None
        if root.tag != f"{{{XHTML}}}div":
            raise FhirValidationError(f"Composition.section[{j}].text.div: must be an XHTML div")
