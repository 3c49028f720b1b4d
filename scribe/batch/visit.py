"""One recorded visit to its results: the library call behind ``scribe transcribe``,
``scribe record`` and any runner that spreads recordings over machines.

``process_recording`` runs one recording through the pipeline inside its visit, then
``write_visit_outputs`` writes what the visit's mode lets out, all files or none, and
audits them before they are published; an optional FHIR export files the note, and its
patient instructions, on the EHR. ``note_documents`` and ``write_note_outputs`` are the
same two steps for any note and transcript (``scribe draft`` uses them too). The caller owns the visit (``scribe.visits.VisitFactory.open``): an exception out
of here discards it whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribe.batch import outputs
from scribe.batch.export import ExportReceipt, FhirExport, audit_document, send_or_write
from scribe.batch.files import Publish, Writer, write_all
from scribe.errors import ScribeError, shown
from scribe.notes.render import render_instructions_markdown, render_note_markdown, render_note_text
from scribe.types import ModelInfo, Note, Transcript

if TYPE_CHECKING:
    from pyannote.core import Annotation

    from privacy.visit import Visit
    from scribe.pipeline import Pipeline, Progress, VisitResult

# The order a visit's files are written, moved into place and named to the user.
TRANSCRIPT_SUFFIXES = (".transcript.json", ".rttm", ".vtt")
NOTE_SUFFIXES = (".note.md", ".note.json", ".instructions.md", ".fhir.json", ".instructions.fhir.json")
OUTPUT_SUFFIXES = TRANSCRIPT_SUFFIXES + NOTE_SUFFIXES
# What privacy mode lets out of a visit: the note's documents only (the instructions'
# two files only when the drafter wrote instructions).
EXPORTED_SUFFIXES = NOTE_SUFFIXES
# The audit log's format of each exported document.
AUDIT_FORMATS = {".note.md": "md", ".note.json": "json", ".instructions.md": "md", ".fhir.json": "fhir",
                 ".instructions.fhir.json": "fhir"}


@dataclass(frozen=True)
class NoteDocuments:
    """A note in every form it leaves a visit: ``markdown`` (``NAME.note.md``, the
    review view), ``document`` (``NAME.fhir.json``, its FHIR DocumentReference), and,
    when the drafter wrote patient instructions, ``instructions_markdown``
    (``NAME.instructions.md``) and ``instructions_document``
    (``NAME.instructions.fhir.json``, LOINC 69730-0); both None otherwise.
    ``NAME.note.json`` is ``note.to_dict()``."""

    note: Note
    markdown: str
    document: dict[str, Any]
    instructions_markdown: str | None = None
    instructions_document: dict[str, Any] | None = None


@dataclass(frozen=True)
class VisitOutputs:
    """What one visit became.

    ``result``: the pipeline's result (transcript, speaker turns, note; times in seconds).
    ``out``/``names``: the files written, ``out / name`` each, in ``OUTPUT_SUFFIXES``
    order (privacy mode: the note's documents only). ``document``: the FHIR R4
    DocumentReference written as ``NAME.fhir.json``; ``instructions_document`` the
    patient instructions' (``NAME.instructions.fhir.json``), None when the note has no
    instructions. ``export``/``instructions_export``/``export_error``: the FHIR export's
    receipts (the note's, then the instructions'), or the one-line error that stopped it
    (the files stay written, the visit is not discarded); all None when no export was
    asked for or the visit holds no speech.
    """

    result: VisitResult
    out: Path
    names: tuple[str, ...]
    document: dict[str, Any]
    export: ExportReceipt | None = None
    export_error: ScribeError | None = None
    instructions_document: dict[str, Any] | None = None
    instructions_export: ExportReceipt | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.out / name for name in self.names)

    @property
    def has_speech(self) -> bool:
        return bool(self.result.transcript.segments)

    @property
    def receipts(self) -> tuple[ExportReceipt, ...]:
        """The export receipts, the note's first."""
        return tuple(r for r in (self.export, self.instructions_export) if r is not None)


def process_recording(
    pipeline: Pipeline,
    path: Path,
    *,
    uri: str,
    out: Path,
    visit: Visit,
    progress: Progress | None = None,
    export: FhirExport | None = None,
    publish: Publish = write_all,
) -> VisitOutputs:
    """Process the recording at ``path`` inside ``visit`` (``progress(seconds_done,
    total_seconds_or_None)`` as it is decoded) and write its results into
    ``out`` as ``uri`` + suffix (see ``write_visit_outputs``); with ``export``, file the
    draft note, then its patient instructions, on the EHR (a recording with no speech is
    not filed). ``publish``: how the visit's files reach ``out`` (default
    ``files.write_all``: staged, audited, moved into place; a runner across machines
    passes one that stages and audits on the worker and leaves the move to its driver).

    Raises
    ------
    InputError
        The recording is missing, unreadable, empty, corrupt or truncated (exit code 2).
    ModelError
        The speech model or ``--language`` cannot be used (exit code 4).
    OutputError
        The results cannot be written; none of them are (exit code 3).
    ScribeError
        The draft note is not valid FHIR (exit code 1).

    An export failure does not raise: it is returned as ``VisitOutputs.export_error``.
    """
    result = pipeline.process(path, progress, uri=uri, visit=visit)
    written = write_visit_outputs(result, source=path, uri=uri, out=out, visit=visit, publish=publish)
    if export is None or not written.has_speech:
        return written
    try:
        receipt = send_or_write(written.document, export, out=out / f"{uri}.transaction.json", source=shown(path))
    except ScribeError as e:
        return replace(written, export_error=e)
    written = replace(written, export=receipt)
    return send_instructions(written, export, out=out / f"{uri}.instructions.transaction.json", source=shown(path))


def send_instructions(written: VisitOutputs, export: FhirExport, *, out: Path, source: str) -> VisitOutputs:
    """After the note: its patient instructions' DocumentReference filed the same way
    (``send_or_write``, audited like the note), when there are any. A failure is returned
    as ``export_error``; the note stays filed."""
    if written.instructions_document is None:
        return written
    try:
        receipt = send_or_write(written.instructions_document, export, out=out, source=f"{source} (instructions)")
    except ScribeError as e:
        return replace(written, export_error=e)
    return replace(written, instructions_export=receipt)


def note_documents(
    note: Note,
    transcript: Transcript,
    *,
    uri: str,
    options_dict: dict[str, Any],
    models: Sequence[ModelInfo],
    transcript_kept: bool,
    source: str | Path,
    drafted_from: str | None = None,
) -> NoteDocuments:
    """Render ``note`` for review (markdown) and build its FHIR DocumentReference, and the
    same for its patient instructions when it has any. ``source`` names the input in
    messages; ``drafted_from`` the transcript file a note was drafted from (``scribe
    draft``), shown in the markdown in place of the recording. Raises ``ScribeError`` (exit code 1) when a document is not valid FHIR."""
    from scribe.fhir.document_reference import (
        FhirValidationError,
        build_document_reference,
        build_instructions_reference,
    )

    markdown = render_note_markdown(
        note, transcript, uri=uri, options_dict=options_dict, models=models, transcript_kept=transcript_kept,
        drafted_from=drafted_from,
    )
    created = datetime.now(timezone.utc)
    instructions_markdown = instructions_doc = None
    # The FHIR document leaves out what the grounding guard flagged: a flagged sentence
    # reaches the EHR only once a clinician keeps it (the recorder's editor). The review
    # markdown written beside it shows them, marked.
    exported, exported_markdown = note, markdown
    if note.counts().unsupported:
        exported = note.supported_only()
        exported_markdown = render_note_markdown(
            exported, transcript, uri=uri, options_dict=options_dict, models=models,
            transcript_kept=transcript_kept, drafted_from=drafted_from, left_out=note.counts().unsupported,
        )
    try:
        # The plain text from the whole note: render_note_text leaves the flagged sentences
        # out itself and says how many, where the filtered note could only look empty.
        doc = build_document_reference(exported, exported_markdown, models=models, created=created,
                                       transcript=transcript, plain_text=render_note_text(note, transcript=transcript))
        if note.instructions:
            instructions_markdown = render_instructions_markdown(
                note, transcript, uri=uri, transcript_kept=transcript_kept, drafted_from=drafted_from
            )
            exported_instructions = instructions_markdown if exported is note else render_instructions_markdown(
                exported, transcript, uri=uri, transcript_kept=transcript_kept, drafted_from=drafted_from
            )
            instructions_doc = build_instructions_reference(
                exported, exported_instructions, note_document=doc, models=models, created=created, transcript=transcript
            )
    except FhirValidationError as e:
        raise ScribeError(f"{source}: the draft note is not valid FHIR ({e})") from None
    return NoteDocuments(note, markdown, doc, instructions_markdown, instructions_doc)


def write_note_outputs(
    transcript: Transcript,
    documents: NoteDocuments,
    *,
    uri: str,
    out: Path,
    visit: Visit,
    source: str,
    options_dict: dict[str, Any],
    models: Sequence[ModelInfo],
    record: Callable[[], object],
    annotation: Annotation | None = None,
    publish: Publish = write_all,
) -> tuple[str, ...]:
    """Write a visit's files into ``out``, all or none: the note's documents
    (``NOTE_SUFFIXES``; the instructions' only when there are instructions) and, unless
    ``visit.privacy``, the transcript files (``TRANSCRIPT_SUFFIXES``). Before anything
    is published, ``record()`` audits what the visit was (``visit_processed``,
    ``note_drafted``) and each exported document is audited as ``note_exported`` with its
    SHA-256 and format; if the audit log refuses, nothing is published. ``source`` names
    the input in messages. ``annotation``: the diarizer's speaker turns, written as the
    RTTM (None, for a transcript file: the RTTM is the segments' speakers). Returns the
    names written, in ``OUTPUT_SUFFIXES`` order.

    Raises ``OutputError`` (exit code 3) when a file cannot be written."""
    note = documents.note
    writes: dict[str, Writer] = {
        ".transcript.json": lambda p: outputs.write_transcript_json(
            transcript, p, uri=uri, options_dict=options_dict, models=models
        ),
        ".rttm": lambda p: outputs.write_rttm(transcript, p, uri=uri, annotation=annotation),
        ".vtt": lambda p: outputs.write_webvtt(transcript, p),
        ".note.md": lambda p: outputs.write_text(documents.markdown, p),
        ".note.json": lambda p: outputs.write_note_json(note, p),
        ".instructions.md": lambda p: outputs.write_text(documents.instructions_markdown or "", p),
        ".fhir.json": lambda p: outputs.write_fhir(documents.document, p),
        ".instructions.fhir.json": lambda p: outputs.write_fhir(documents.instructions_document or {}, p),
    }
    if documents.instructions_document is None:
        for suffix in (".instructions.md", ".instructions.fhir.json"):
            del writes[suffix]
    if visit.privacy:
        writes = {suffix: write for suffix, write in writes.items() if suffix in EXPORTED_SUFFIXES}

    def audit(staged: Mapping[str, Path]) -> None:
        # Recorded before the files are moved into place: if the audit log refuses or
        # fails, nothing has been exported and the visit is discarded whole.
        record()
        for suffix in writes:
            if suffix in EXPORTED_SUFFIXES:
                path = staged[f"{uri}{suffix}"]
                audit_document(visit.exported, path.read_bytes(), format=AUDIT_FORMATS[suffix])

    return publish(out, uri, writes, source=source, before_commit=audit)


def write_visit_outputs(
    result: VisitResult, *, source: Path, uri: str, out: Path, visit: Visit, publish: Publish = write_all
) -> VisitOutputs:
    """Write a finished visit's results into ``out``, all of them or none: in privacy
    mode the note's documents only (``NAME.note.md``, ``NAME.note.json``,
    ``NAME.fhir.json``, and ``NAME.instructions.md`` with ``NAME.instructions.fhir.json``
    when the note has patient instructions), otherwise also the transcript JSON, RTTM and
    WebVTT (the RTTM is the diarizer's turns, ``result.annotation``). Before the files are published the visit records ``visit_processed``
    (durations in seconds, counts, models, template) and one ``note_exported`` per
    document with its SHA-256: if the audit log refuses, nothing is published and the
    caller discards the visit. ``source`` names the recording in messages.

    Raises ``OutputError`` (exit code 3) when a file cannot be written, ``ScribeError``
    (exit code 1) when the draft note is not valid FHIR.
    """
    options = result.options.to_dict()
    documents = note_documents(
        result.note, result.transcript, uri=uri, options_dict=options, models=result.models,
        transcript_kept=not visit.privacy, source=source,
    )

    def record() -> None:
        visit.processed(
            audio_seconds=result.transcript.duration,
            segments=len(result.transcript.segments),
            speakers=len(result.annotation.labels()),
            **audit_model_fields(result.models),
            template=result.note.template,
        )

    names = write_note_outputs(
        result.transcript, documents, uri=uri, out=out, visit=visit, source=shown(source.name),
        options_dict=options, models=result.models, record=record, annotation=result.annotation, publish=publish,
    )
    return VisitOutputs(result, out, names, documents.document, instructions_document=documents.instructions_document)


def audit_model_fields(models: Sequence[ModelInfo]) -> dict[str, str]:
    """Model names for the audit log (``asr_model``, ``vad_model``, ``diarization_model``,
    ``drafting_model``: ``name:version``), made to fit its strict pattern: a local model
    folder may be called anything ("whisper small ct2")."""
    keys = {"speech": "asr_model", "vad": "vad_model", "speaker-embedding": "diarization_model", "drafter": "drafting_model"}
    return {
        keys[m.kind]: re.sub(r"[^A-Za-z0-9._:/+-]", "_", f"{m.name}:{m.version}")[:80]
        for m in models
        if m.kind in keys
    }
