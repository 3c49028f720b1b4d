"""Batch: recorded visits to files on disk, one visit per recording.

``process_recording(pipeline, path, *, uri, out, visit, progress=None, export=None) ->
VisitOutputs`` is the unit of work: the recording through the pipeline inside its visit,
then its results written all-or-nothing (``files.write_all``), audited, and optionally
filed on the EHR (``export.send_or_write``). ``runner.run_local`` runs many recordings
on this machine, one after another; a runner that spreads them over machines goes
beside it (``runner.py``'s ``Job`` and ``RecordingOutcome`` are its inputs and outputs).
``outputs`` holds the file formats (transcript JSON, RTTM, WebVTT, note markdown, FHIR
JSON); ``export`` the one place a document is hashed and audited as it leaves.
"""

from scribe.batch.export import ExportReceipt, FhirExport, audit_document, document_sha256, send_or_write
from scribe.batch.runner import Job, RecordingOutcome, expand_inputs, run_local
from scribe.batch.visit import VisitOutputs, process_recording, write_visit_outputs

__all__ = [
    "ExportReceipt",
    "FhirExport",
    "Job",
    "RecordingOutcome",
    "VisitOutputs",
    "audit_document",
    "document_sha256",
    "expand_inputs",
    "process_recording",
    "run_local",
    "send_or_write",
    "write_visit_outputs",
]
