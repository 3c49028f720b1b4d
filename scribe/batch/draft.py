"""A note drafted from a transcript instead of audio: the unit of work behind ``scribe
draft``.

``run_drafts(drafting, jobs, *, out, visits)`` reads each transcript file
(``scribe.batch.readers``), gives its speakers roles (``assign_roles``), drafts the note
through ``scribe.notes.draft_note`` (so the omission check and the drafter's name and
version are filled as for a recorded visit) and writes the same files ``scribe
transcribe`` writes for a visit (``scribe.batch.visit.write_note_outputs``), under the
same privacy rules: in privacy mode the note's documents only, otherwise also the
transcript it read, as Scribe's transcript JSON, RTTM and WebVTT. Each transcript is
drafted inside a visit of its own, audited as ``note_drafted`` (counts, models,
template: metadata only) and one ``note_exported`` per document.

No speech or speaker model is loaded: only the drafter and, when roles are to be
inferred, the role labeller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribe.batch.readers import TranscriptFile, read_transcript
from scribe.batch.runner import Job, discarded
from scribe.batch.visit import (
    EXPORTED_SUFFIXES,
    OUTPUT_SUFFIXES,
    audit_model_fields,
    note_documents,
    write_note_outputs,
)
from scribe.errors import InputError, OutputError, ScribeError, log_unforeseen, shown
from scribe.notes import DRAFTERS, Drafter, draft_note
from scribe.notes.base import check_note_language
from scribe.notes.templates import Template, load_template
from scribe.options import ScribeOptions
from scribe.pipeline import label_in_note_language
from scribe.speakers import ROLE_LABELLERS, RoleLabeller
from scribe.types import ModelInfo, Note, Role, Transcript

if TYPE_CHECKING:
    from privacy.visit import Visit
    from scribe.visits import VisitFactory

logger = logging.getLogger("scribe.batch.draft")


@dataclass(frozen=True)
class Drafting:
    """What drafts notes from transcripts, built once for a batch: the drafter, the role
    labeller, the template, and the options naming them."""

    drafter: Drafter
    role_labeller: RoleLabeller
    template: Template
    options: ScribeOptions
    note_language: str | None = None  # --note-language; None: each transcript's own

    @classmethod
    def from_options(cls, options: ScribeOptions, note_language: str | None = None) -> "Drafting":
        """Raises ``UnknownBackendError`` for an unknown drafter or role labeller and
        ``TemplateError`` for a template that cannot be loaded (exit code 1), before any
        backend is built; ``ModelError`` (exit code 4) when ``note_language`` (given)
        is not one the drafter writes."""
        DRAFTERS.check(options.drafter)
        ROLE_LABELLERS.check(options.role_labeller)
        template = load_template(options.template)
        drafting = cls(
            drafter=DRAFTERS.create(options.drafter, options),
            role_labeller=ROLE_LABELLERS.create(options.role_labeller, options),
            template=template,
            options=options,
            note_language=note_language,
        )
        if note_language is not None:
            drafting.check_language(note_language, "--note-language")
        return drafting

    def check_language(self, language: str, named: str) -> None:
        """Raise ``ModelError`` (exit code 4) when the drafter does not write ``language``
        (``named``: where it came from, for the one line)."""
        check_note_language(self.drafter, language, named)

    def in_note_language(self, transcript: Transcript) -> Transcript:
        """``transcript`` to be drafted in the note language: ``--note-language`` when
        given, else the transcript's own. A transcript made for another note language
        keeps its segments but not their translations (they are in the other language:
        the segments said in neither language are then left out of the note,
        ``Transcript.for_note``). Raises ``ModelError`` when the drafter does not write it."""
        language = self.note_language or transcript.note_language
        if language != transcript.note_language:
            segments = tuple(replace(s, translation=None) for s in transcript.segments)
            transcript = replace(transcript, segments=segments, note_language=language)
        self.check_language(language, "--note-language" if self.note_language else "the transcript's note_language")
        return transcript

    def options_dict(self, source: TranscriptFile) -> dict[str, Any]:
        """The settings shown in the note's header and written with the transcript: what
        drafted it, and from what format (not the speech settings of ``ScribeOptions``:
        no speech model ran)."""
        return {
            "drafted_from": source.format,
            "template": self.options.template,
            "drafter": self.options.drafter,
            "role_labeller": self.options.role_labeller,
            "language": source.transcript.language,
            "note_language": self.note_language or source.transcript.note_language,
        }


@dataclass(frozen=True)
class DraftOutputs:
    """What one transcript became: ``source`` as read, ``transcript`` with its roles,
    ``note`` (drafted through ``draft_note``), ``roles_inferred`` (whether the role
    labeller gave any speaker its role), the files written (``out / name`` for each of
    ``names``, in ``OUTPUT_SUFFIXES`` order) and the FHIR documents written."""

    source: TranscriptFile
    transcript: Transcript
    note: Note
    roles_inferred: bool
    out: Path
    names: tuple[str, ...]
    document: dict[str, Any]
    instructions_document: dict[str, Any] | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.out / name for name in self.names)


@dataclass(frozen=True)
class DraftOutcome:
    """What became of one job: its outputs, or None and the one-line error that stopped
    it. ``visit_id``: the visit it was drafted in (None when the file could not be
    read: no visit was opened)."""

    job: Job
    visit_id: str | None
    outputs: DraftOutputs | None
    errors: tuple[ScribeError, ...] = ()


def assign_roles(transcript: Transcript, labeller: RoleLabeller) -> tuple[Transcript, bool]:
    """Every speaker's role, and whether any was inferred.

    A speaker whose segments already carry a role (Scribe's transcript JSON and captions;
    a label naming one, ``readers.role_from_label``) keeps it. When no speaker has one,
    ``labeller`` labels the transcript exactly as the pipeline does. When only some have
    one (``Dr Lee`` and ``Maria``), the named roles stand and the rest are decided with
    the labeller's help: clinician and patient, where no label took them, go first to an
    unnamed speaker the labeller gave that role, then to the unnamed speaker who said
    most; every other unnamed speaker is ``OTHER``. Segments without a speaker keep
    their role. Returns (the transcript with roles and ``speakers`` set, inferred)."""
    order: list[str] = []
    fixed: dict[str, Role] = {}
    words: dict[str, int] = {}
    for seg in transcript.segments:
        if seg.speaker is None:
            continue
        if seg.speaker not in words:
            order.append(seg.speaker)
        words[seg.speaker] = words.get(seg.speaker, 0) + len(seg.text.split())
        if seg.role is not Role.UNKNOWN:
            fixed.setdefault(seg.speaker, seg.role)
    unnamed = [sp for sp in order if sp not in fixed]
    if not unnamed:
        roles = fixed
    elif not fixed:
        return label_in_note_language(labeller, transcript), True
    else:
        guess = label_in_note_language(labeller, transcript).speakers
        roles = dict(fixed)
        open_roles = [r for r in (Role.CLINICIAN, Role.PATIENT) if r not in fixed.values()]
        most = lambda speakers: max(speakers, key=lambda sp: (words[sp], -order.index(sp)))  # noqa: E731
        for role in list(open_roles):
            guessed = [sp for sp in unnamed if sp not in roles and guess.get(sp) is role]
            if guessed:
                roles[most(guessed)] = role
                open_roles.remove(role)
        for role in open_roles:
            rest = [sp for sp in unnamed if sp not in roles]
            if rest:
                roles[most(rest)] = role
        for sp in unnamed:
            roles.setdefault(sp, Role.OTHER)
    segments = tuple(replace(s, role=roles[s.speaker]) if s.speaker is not None else s for s in transcript.segments)
    return replace(transcript, segments=segments, speakers={sp: roles[sp] for sp in order}), bool(unnamed)


def draft_transcript(drafting: Drafting, source: TranscriptFile, *, uri: str, out: Path, visit: Visit) -> DraftOutputs:
    """Draft ``source``'s note inside ``visit`` and write it into ``out`` as ``uri`` +
    suffix, all files or none (``write_note_outputs``; privacy mode: the note's documents
    only). Audited as ``note_drafted`` and ``note_exported`` per document.

    Raises ``OutputError`` (exit code 3) when a result cannot be written or would
    overwrite the input itself, ``ScribeError`` (exit code 1) when the note is not valid
    FHIR."""
    check_not_overwritten(source.path, uri=uri, out=out, privacy=visit.privacy)
    started = time.perf_counter()
    for seg in source.transcript.segments:
        # As a recorded visit's: never in a log; kept encrypted with a standard-mode visit.
        visit.store_text(seg.text)
        if seg.translation:
            visit.store_text(seg.translation)
    transcript, inferred = assign_roles(drafting.in_note_language(source.transcript), drafting.role_labeller)
    note = draft_note(drafting.drafter, transcript, drafting.template)
    models = _models(drafting, source, inferred)
    options = drafting.options_dict(source)
    documents = note_documents(
        note, transcript, uri=uri, options_dict=options, models=models, transcript_kept=not visit.privacy,
        source=source.path, drafted_from=shown(source.path.name),
    )
    seconds = round(time.perf_counter() - started, 3)

    def record() -> None:
        if visit.audit is not None:
            visit.audit.record(
                "note_drafted",
                visit.visit_id,
                segments=len(transcript.segments),
                speakers=len(transcript.speakers),
                **audit_model_fields(models),
                template=note.template,
                processing_seconds=seconds,
            )

    names = write_note_outputs(
        transcript, documents, uri=uri, out=out, visit=visit, source=shown(source.path.name),
        options_dict=options, models=models, record=record,
    )
    logger.info("drafted %s: %d segment(s), %d sentence(s)", uri, len(transcript.segments), len(note.sentences()))
    return DraftOutputs(source, transcript, note, inferred, out, names, documents.document,
                        documents.instructions_document)


def check_not_overwritten(path: Path, *, uri: str, out: Path, privacy: bool) -> None:
    """Raise ``OutputError`` (exit code 3) when one of the files a draft writes into
    ``out`` as ``uri`` (in ``privacy`` mode, the note's documents only) is the transcript
    at ``path`` itself: ``scribe draft out/visit.transcript.json --out out --no-privacy``
    would replace the transcript a clinician corrected."""
    for suffix in EXPORTED_SUFFIXES if privacy else OUTPUT_SUFFIXES:
        target = out / f"{uri}{suffix}"
        if target.exists() and target.resolve() == path.resolve():
            raise OutputError(target, "would overwrite the transcript being drafted; choose another --out")


def _models(drafting: Drafting, source: TranscriptFile, inferred: bool) -> tuple[ModelInfo, ...]:
    # What made the transcript (when its file says), then what gave roles and drafted.
    labeller = (drafting.role_labeller.model_info,) if inferred else ()
    drafter = ModelInfo("drafter", drafting.drafter.name, drafting.drafter.version)
    return (*source.models, *labeller, drafter)


def run_drafts(drafting: Drafting, jobs: Sequence[Job], *, out: Path, visits: VisitFactory) -> Iterator[DraftOutcome]:
    """Draft ``jobs`` (transcript files) in order, each in a visit of its own from
    ``visits``, writing into ``out`` (an existing, writable folder). Yields one outcome
    per job as it is done; a file that cannot be read, or that its results would
    overwrite, is its own outcome (``InputError``, ``OutputError``; no visit opened) and never stops the others; nor does an unexpected exception (an
    ``InputError`` "could not be drafted")."""
    for job in jobs:
        try:  # before a visit is opened: nothing of it to discard
            source = read_transcript(job.path)
            check_not_overwritten(job.path, uri=job.uri, out=out, privacy=visits.privacy)
        except ScribeError as e:
            yield DraftOutcome(job, None, None, (e,))
            continue
        except Exception as e:  # a reader's unforeseen failure must not stop the batch either
            log_unforeseen(logger, "unexpected failure reading", e)
            yield DraftOutcome(job, None, None, (InputError(job.path, f"could not be read ({type(e).__name__})"),))
            continue
        visit_id = None
        try:
            with visits.open() as visit:
                visit_id = visit.visit_id
                done = draft_transcript(drafting, source, uri=job.uri, out=out, visit=visit)
        except ScribeError as e:
            yield DraftOutcome(job, visit_id, None, (discarded(e) if visits.privacy else e,))
            continue
        except Exception as e:  # one broken file must not stop the batch
            log_unforeseen(logger, "unexpected failure", e)
            error = InputError(job.path, f"could not be drafted ({type(e).__name__})")
            yield DraftOutcome(job, visit_id, None, (discarded(error) if visits.privacy else error,))
            continue
        yield DraftOutcome(job, visit_id, done)
