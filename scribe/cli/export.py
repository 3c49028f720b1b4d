"""``scribe export``: a note's FHIR document, and its patient instructions', to the EHR
(or to transaction files)."""

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
    instructions: Annotated[bool, typer.Option("--instructions/--no-instructions", help="Also send the patient instructions, NAME.instructions.fhir.json, when they are beside NAME.fhir.json.")] = True,
) -> None:
    """Send a note to the EHR's FHIR server as one transaction (DocumentReference, the
    scribe Device, Provenance), validated first; safe to repeat: a note already there is
    not filed twice, and a newer version of it (signed, amended) replaces the old one.
    Without a server, writes the transaction JSON to a file.

    The patient instructions written beside the note (NAME.instructions.fhir.json, LOINC
    69730-0) are sent after it in a transaction of their own, or written as
    NAME.instructions.transaction.json; each document is audited as it leaves.

    Exit codes: 0 sent or written; 1 the note is not valid FHIR or identity is missing;
    2 NOTE missing or unreadable; 3 --out not writable; 6 the server refused it or kept failing.
    """
    from scribe.batch.export import FhirExport, send_or_write

    try:
        site = load_config()
        doc = _read_fhir_note(note)
        companion = _instructions_beside(note) if instructions else None
        extra = _read_fhir_note(companion) if companion is not None else None
        context = clinical_context(site, patient, practitioner, encounter, organization)
        target = out or note.with_name(_name(note) + ".transaction.json")
        fhir = replace(site.fhir, server=fhir_server or site.fhir.server)
        export_to = FhirExport(context, fhir, document=bundle)
        receipt = send_or_write(doc, export_to, out=target, source=str(note))
        typer.echo(receipt.message)
        if companion is not None and extra is not None:
            # After the note: instructions never reach the EHR without the note they go with.
            more = target.with_name(target.name.removesuffix(".transaction.json").removesuffix(".json")
                                    + ".instructions.transaction.json")
            typer.echo(send_or_write(extra, export_to, out=more, source=str(companion)).message)
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code)


def _name(note: Path) -> str:
    return note.name.removesuffix(".fhir.json").removesuffix(".json")


def _instructions_beside(note: Path) -> Path | None:
    """NAME.instructions.fhir.json beside a note's NAME.fhir.json, if it is there (not for
    an instructions document itself)."""
    if not note.name.endswith(".fhir.json") or note.name.endswith(".instructions.fhir.json"):
        return None
    companion = note.with_name(_name(note) + ".instructions.fhir.json")
    return companion if companion.is_file() else None


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
    except RecursionError:  # "[" x 100000: Python's parser recurses once per level
        raise InputError(path, "not a FHIR DocumentReference (JSON nested too deeply)") from None
    try:
        validate_document_reference(doc)
    except FhirValidationError as e:
        raise ScribeError(f"{path}: not a valid note document: {e}") from None
    return doc
