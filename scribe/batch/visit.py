"""One recorded visit to its results: the library call behind ``scribe transcribe``,
``scribe record`` and any runner that spreads recordings over machines.

``process_recording`` runs one recording through the pipeline inside its visit, then
``write_visit_outputs`` writes what the visit's mode lets out, all files or none, and
audits them before they are published; an optional FHIR export files the note on the
EHR. The caller owns the visit (``scribe.visits.VisitFactory.open``): an exception out
of here discards it whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribe.batch import outputs
from scribe.batch.export import ExportReceipt, FhirExport, audit_document, send_or_write
from scribe.batch.files import Writer, write_all
from scribe.errors import ScribeError
from scribe.notes.render import render_note_markdown
from scribe.types import ModelInfo

if TYPE_CHECKING:
    from privacy.visit import Visit
    from scribe.pipeline import Pipeline, Progress, VisitResult

# The order a visit's files are written, moved into place and named to the user.
OUTPUT_SUFFIXES = (".transcript.json", ".rttm", ".vtt", ".note.md", ".fhir.json")
# What privacy mode lets out of a visit: the exported documents only.
EXPORTED_SUFFIXES = (".note.md", ".fhir.json")


@dataclass(frozen=True)
class VisitOutputs:
    """What one visit became.

    ``result``: the pipeline's result (transcript, speaker turns, note; times in seconds).
    ``out``/``names``: the files written, ``out / name`` each, in ``OUTPUT_SUFFIXES``
    order (privacy mode: the note and its FHIR document only). ``document``: the FHIR R4
    DocumentReference written as ``NAME.fhir.json``. ``export``/``export_error``: the
    FHIR export's receipt, or the one-line error that stopped it (the files stay
    written, the visit is not discarded); both None when no export was asked for or the
    visit holds no speech.
    """

    result: VisitResult
    out: Path
    names: tuple[str, ...]
    document: dict[str, Any]
    export: ExportReceipt | None = None
    export_error: ScribeError | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.out / name for name in self.names)

    @property
    def has_speech(self) -> bool:
        return bool(self.result.transcript.segments)


def process_recording(
    pipeline: Pipeline,
    path: Path,
    *,
    uri: str,
    out: Path,
    visit: Visit,
    progress: Progress | None = None,
    export: FhirExport | None = None,
) -> VisitOutputs:
    """Process the recording at ``path`` inside ``visit`` (``progress(seconds_done,
    total_seconds_or_None)`` as it is decoded) and write its results into
    ``out`` as ``uri`` + suffix (see ``write_visit_outputs``); with ``export``, file the
    draft note on the EHR (a recording with no speech is not filed).

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
    written = write_visit_outputs(result, source=path, uri=uri, out=out, visit=visit)
    if export is None or not written.has_speech:
        return written
    try:
        receipt = send_or_write(written.document, export, out=out / f"{uri}.transaction.json", source=str(path))
    except ScribeError as e:
        return replace(written, export_error=e)
    return replace(written, export=receipt)


def write_visit_outputs(result: VisitResult, *, source: Path, uri: str, out: Path, visit: Visit) -> VisitOutputs:
    """Write a finished visit's results into ``out``, all of them or none: in privacy
    mode the exported documents only (``NAME.note.md``, ``NAME.fhir.json``), otherwise
    also the transcript JSON, RTTM and WebVTT. Before the files are published the visit
    records ``visit_processed`` (durations in seconds, counts, models, template) and one
    ``note_exported`` per document with its SHA-256: if the audit log refuses, nothing is
    published and the caller discards the visit. ``source`` names the recording in
    messages.

    Raises ``OutputError`` (exit code 3) when a file cannot be written, ``ScribeError``
    (exit code 1) when the draft note is not valid FHIR.
    """
    from scribe.fhir.document_reference import FhirValidationError, build_document_reference

    options = result.options.to_dict()
    markdown = render_note_markdown(
        result.note,
        result.transcript,
        uri=uri,
        options_dict=options,
        models=result.models,
        transcript_kept=not visit.privacy,
    )
    try:
        doc = build_document_reference(
            result.note,
            markdown,
            models=result.models,
            created=datetime.now(timezone.utc),
            transcript=result.transcript,
        )
    except FhirValidationError as e:
        raise ScribeError(f"{source}: the draft note is not valid FHIR ({e})") from None
    writes: dict[str, Writer] = {
        ".transcript.json": lambda p: outputs.write_transcript_json(
            result.transcript, p, uri=uri, options_dict=options, models=result.models
        ),
        ".rttm": lambda p: outputs.write_rttm(result.transcript, p, uri=uri),
        ".vtt": lambda p: outputs.write_webvtt(result.transcript, p),
        ".note.md": lambda p: outputs.write_text(markdown, p),
        ".fhir.json": lambda p: outputs.write_fhir(doc, p),
    }
    if visit.privacy:
        writes = {suffix: writes[suffix] for suffix in EXPORTED_SUFFIXES}

    def audit(staged: Mapping[str, Path]) -> None:
        # Recorded before the files are moved into place: if the audit log refuses or
        # fails, nothing has been exported and the visit is discarded whole.
        visit.processed(
            audio_seconds=result.transcript.duration,
            segments=len(result.transcript.segments),
            speakers=len(result.annotation.labels()),
            **audit_model_fields(result.models),
            template=result.note.template,
        )
        for name, staged_path in staged.items():
            if name.endswith(EXPORTED_SUFFIXES):
                audit_document(visit.exported, staged_path.read_bytes(), format="md" if name.endswith(".md") else "fhir")

    names = write_all(out, uri, writes, source=source.name, before_commit=audit)
    return VisitOutputs(result, out, names, doc)


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
