"""``scribe export``: a note's FHIR document to the EHR (or to a transaction file)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scribe.cli.app import (
    EncounterOption,
    FhirServerOption,
    OrganizationOption,
    PatientOption,
    PractitionerOption,
    app,
    clinical_context,
    fail,
)
from scribe.config import load_config
from scribe.errors import InputError, ScribeError


@app.command()
def export(
    note: Annotated[Path, typer.Argument(help="A note's FHIR document: NAME.fhir.json from transcribe or record, or the recorder's export.", show_default=False)],
    fhir_server: FhirServerOption = None,
    patient: PatientOption = None,
    practitioner: PractitionerOption = None,
    encounter: EncounterOption = None,
    organization: OrganizationOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Without a server: where to write the transaction (default: NOTE's name + .transaction.json).")] = None,
    bundle: Annotated[bool, typer.Option("--bundle", help="Also file the note as a FHIR document: a Bundle led by a Composition with LOINC-coded sections.")] = False,
) -> None:
    """Send a note to the EHR's FHIR server as one transaction (DocumentReference, the
    scribe Device, Provenance), validated first; safe to repeat: a note already there is
    not filed twice, and a newer version of it (signed, amended) replaces the old one.
    Without a server, writes the transaction JSON to a file.

    Exit codes: 0 sent or written; 1 the note is not valid FHIR or identity is missing;
    2 NOTE missing or unreadable; 3 --out not writable; 6 the server refused it or kept failing.
    """
    from scribe.batch.export import FhirExport, send_or_write

    try:
        site = load_config()
        doc = _read_fhir_note(note)
        context = clinical_context(site, patient, practitioner, encounter, organization)
        target = out or note.with_name(note.name.removesuffix(".fhir.json").removesuffix(".json") + ".transaction.json")
        fhir = replace(site.fhir, server=fhir_server or site.fhir.server)
        receipt = send_or_write(doc, FhirExport(context, fhir, document=bundle), out=target, source=str(note))
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code)
    typer.echo(receipt.message)


def _read_fhir_note(path: Path) -> dict[str, Any]:
    """A DocumentReference from a file, validated. Raises ``InputError`` (exit 2) when
    it cannot be read or is not JSON, ``ScribeError`` (exit 1) when it is not a valid
    note document."""
    from scribe.fhir.document_reference import FhirValidationError, validate_document_reference

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot be read ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    except ValueError:
        raise InputError(path, "not JSON (expected a FHIR DocumentReference, NAME.fhir.json)") from None
    try:
        validate_document_reference(doc)
    except FhirValidationError as e:
        raise ScribeError(f"{path}: not a valid note document: {e}") from None
    return doc
