"""A note leaving Scribe: hashed, audited, and filed on the EHR's FHIR server or written
as a transaction file.

One place hashes an exported document (``document_sha256``) and one function records
that it left (``audit_document``): the batch writer, ``scribe export``, and the live
visit's sign, download and send all go through them, so the audit log's hashes are
computed one way. ``send_or_write`` is the one "file this note" step of the command line
and the batch runner.

Audit entries carry the hash and format only, never the note (``privacy.audit`` refuses
anything else).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from scribe.config import FhirConfig
from scribe.errors import FhirExportError, OutputError, ScribeError
from scribe.fhir.client import ClinicalContext

AuditRecorder = Callable[..., object]
"""Records one audit event from keyword fields (``sha256=..., format=...``): a visit's
``exported`` or ``signed`` (``privacy.visit.Visit``), or ``AuditLog.record`` bound to an
event and a note id."""


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The bytes a JSON document is hashed as: keys sorted, no whitespace between tokens
    (``separators=(",", ":")``), non-ASCII characters as themselves, UTF-8. Raises
    ``ValueError`` for NaN or infinity (not JSON)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def document_sha256(document: Mapping[str, Any] | bytes) -> str:
    """The SHA-256 (64 lowercase hex digits) the audit log records for a document.

    One document, one hash, however it is held or laid out: a JSON object (a FHIR
    resource as a mapping, a ``.fhir.json`` or ``.note.json`` file as written, the FHIR
    JSON a download sends) is hashed as its ``canonical_json`` bytes, so a note's
    ``note_signed`` and each ``note_exported`` of it (a download indented for reading,
    a file with a final newline, the resource sent to the EHR) carry the same hash. Any
    other bytes (Markdown, a file that is not one JSON object) are hashed as they are.
    To check a JSON file by hand: ``python -c 'import json,sys,hashlib;
    print(hashlib.sha256(json.dumps(json.load(open(sys.argv[1])), sort_keys=True,
    separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())' FILE``."""
    if isinstance(document, (bytes, bytearray)):
        try:
            parsed = json.loads(document)
            if isinstance(parsed, dict):
                document = canonical_json(parsed)
        except ValueError:  # not JSON (or not valid UTF-8): the bytes are the document
            pass
    else:
        document = canonical_json(document)
    return hashlib.sha256(document).hexdigest()


def audit_document(record: AuditRecorder, document: Mapping[str, Any] | bytes, **fields: str) -> str:
    """Hash ``document`` (``document_sha256``) and record it with ``record(sha256=...,
    **fields)`` (``format="fhir"`` or ``"md"`` for an export). Returns the hash.

    Raises whatever the audit log raises (``privacy.audit.AuditError`` for a field it
    refuses, ``OSError`` when it cannot be written): an export that cannot be audited
    must not happen, so callers audit before they publish."""
    digest = document_sha256(document)
    record(sha256=digest, **fields)
    return digest


def note_audit(doc: Mapping[str, Any]) -> AuditRecorder:
    """The audit recorder for a note exported outside a running visit (``scribe export``,
    a batch visit's note sent to the EHR): ``note_exported`` under the note's id."""
    from privacy.audit import AuditLog
    from scribe.fhir.client import note_id

    return partial(AuditLog().record, "note_exported", note_id(dict(doc)).removeprefix("urn:uuid:")[:64])


@dataclass(frozen=True)
class FhirExport:
    """Where and for whom notes are filed.

    ``fhir.server`` is the EHR's FHIR R4 base URL (already opened in the network guard by
    the caller); None writes the transaction to a file instead. ``fhir.token()`` gives the
    bearer token. ``document``: also file the note as a FHIR document Bundle."""

    context: ClinicalContext
    fhir: FhirConfig
    document: bool = False


@dataclass(frozen=True)
class ExportReceipt:
    """A note filed or written. ``message`` is the one line to tell the user."""

    message: str
    sha256: str
    location: str | None = None  # DocumentReference/ID on the server
    existed: bool = False  # the server had this version already (a replay)
    path: Path | None = None  # the transaction file, when there is no server


def send_or_write(
    doc: Mapping[str, Any],
    export: FhirExport,
    *,
    out: Path,
    source: str,
    audit: AuditRecorder | None = None,
) -> ExportReceipt:
    """File ``doc`` (a FHIR DocumentReference) on ``export.fhir.server`` as one
    transaction, or, without a server, write that transaction as JSON to ``out``; then
    audit it (default: ``note_audit(doc)``, format "fhir"). The hash is of the document
    sent, or of the transaction file as written. ``source`` names the note in messages.

    Raises
    ------
    ScribeError
        Identity missing or malformed, or the note is not valid FHIR: nothing was sent
        (exit code 1). ``ConfigError`` when the token file cannot be read.
    FhirExportError
        The server refused the note or kept failing (exit code 6).
    OutputError
        The transaction file cannot be written (exit code 3).
    """
    from scribe.batch.outputs import write_fhir
    from scribe.fhir.client import FhirClient, FhirServerError, IdentityError, build_transaction, filed_note
    from scribe.fhir.document_reference import FhirValidationError

    doc = dict(doc)
    server = export.fhir.server
    location, existed, path = None, False, None
    try:
        export.context.check()
        if server:
            client = FhirClient(server, export.fhir.token())
            response = client.send(doc, export.context, document=export.document)
            location, existed = filed_note(response)
            message = f"{source}: filed on {server} as {location}" + (" (already there; nothing new)" if existed else "")
            published: Mapping[str, Any] | bytes = doc
        else:
            bundle = build_transaction(doc, export.context, document=export.document)
            out.parent.mkdir(parents=True, exist_ok=True)
            path = write_fhir(bundle, out)
            message = f"{source}: no FHIR server configured; transaction written to {out}"
            published = out.read_bytes()
    except (IdentityError, FhirValidationError) as e:
        raise ScribeError(f"{source}: {e}; nothing was sent") from None
    except FhirServerError as e:
        raise FhirExportError(f"{source}: {e}") from None
    except OSError as e:
        raise OutputError(out, f"cannot write ({e.strerror or type(e).__name__})") from None
    digest = audit_document(audit or note_audit(doc), published, format="fhir")
    return ExportReceipt(message, digest, location=location, existed=existed, path=path)
