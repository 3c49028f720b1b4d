"""Batch: recorded visits to files on disk, one visit per recording.

``process_recording(pipeline, path, *, uri, out, visit, progress=None, export=None) ->
VisitOutputs`` is the unit of work: the recording through the pipeline inside its visit,
then its results written all-or-nothing (``files.write_all``), audited, and optionally
filed on the EHR (``export.send_or_write``). ``runner.run_local`` runs many recordings
on this machine, one after another; ``ray_runner.run_ray`` spreads them over the
workers of a Ray cluster (``ray_cluster.connect``), each calling the same
``process_recording``, and takes ``runner.py``'s ``Job``s (Ray is imported only then).
``outputs`` holds the file formats (transcript JSON, RTTM, WebVTT, note markdown, note
JSON, FHIR JSON); ``export`` the one place a document is hashed and audited as it leaves.

``draft.run_drafts`` is the same for transcripts instead of recordings (``scribe
draft``): ``readers.read_transcript`` reads Scribe's transcript JSON, WebVTT with voice
tags or ``LABEL: text`` plain text, ``draft.assign_roles`` gives the speakers roles, and
the note is drafted and written as for a recorded visit.
"""

from scribe.batch.draft import DraftOutcome, DraftOutputs, Drafting, assign_roles, run_drafts
from scribe.batch.export import ExportReceipt, FhirExport, audit_document, document_sha256, send_or_write
from scribe.batch.runner import Job, RecordingOutcome, expand_inputs, run_local
from scribe.batch.readers import TranscriptFile, read_transcript
from scribe.batch.visit import NoteDocuments, VisitOutputs, process_recording, write_visit_outputs

__all__ = [
    "DraftOutcome",
    "DraftOutputs",
    "Drafting",
    "ExportReceipt",
    "FhirExport",
    "Job",
    "NoteDocuments",
    "RecordingOutcome",
    "TranscriptFile",
    "VisitOutputs",
    "assign_roles",
    "audit_document",
    "document_sha256",
    "expand_inputs",
    "process_recording",
    "read_transcript",
    "run_drafts",
    "run_local",
    "send_or_write",
    "write_visit_outputs",
]
