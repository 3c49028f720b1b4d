"""FHIR R4: the note in the forms an EHR files, and the client that files it.

``document_reference.build_document_reference(note, markdown, *, models, created, ...)
-> dict`` is the note as a validated DocumentReference (plain text and markdown, marked
preliminary and AI-asserted, its models named by a contained Device), and
``build_instructions_reference`` the patient instructions as a DocumentReference of
their own (LOINC 69730-0) naming the note's; ``bundle`` makes
the FHIR document (a Composition-led Bundle) from it; ``client`` builds the idempotent
transaction (Device, DocumentReference, Provenance) for a ``ClinicalContext`` and sends
it (``FhirClient.send``). Every resource is validated against the R4B models before it
leaves; errors are one line (``FhirValidationError``, ``IdentityError``,
``FhirServerError``). Importing this package loads no FHIR models. Another output
standard (a C-CDA document, another FHIR profile) is a module beside these.
"""

from scribe.fhir.client import (
    ClinicalContext,
    FhirClient,
    FhirServerError,
    IdentityError,
    build_transaction,
    filed_note,
    note_id,
)
from scribe.fhir.document_reference import (
    FhirValidationError,
    build_document_reference,
    build_instructions_reference,
    validate_document_reference,
)

__all__ = [
    "ClinicalContext",
    "FhirClient",
    "FhirServerError",
    "FhirValidationError",
    "IdentityError",
    "build_document_reference",
    "build_instructions_reference",
    "build_transaction",
    "filed_note",
    "note_id",
    "validate_document_reference",
]
