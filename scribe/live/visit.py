"""One visit being recorded live: the streaming session, its privacy-mode container, and
what the clinician does with it (pause, swap roles, stop, edit, sign, export).

Every method returns the events the recorder should see (``scribe.live.events``: frozen
dataclasses the service serialises with ``to_json()``). A ``LiveVisit`` is driven from
one thread at a time (the capture service's compute thread); it holds nothing shared
with another visit, so one visit's failure is its own.

Lifecycle: recording <-> paused -> stopped (final transcript and draft; the audio is
destroyed here: the note no longer needs it) -> signed (the note is final; in privacy
mode the transcript and the visit key are destroyed, only the signed note remains until
it is exported) or discarded.

With a model drafter (``model_drafter``, ``scribe.live.drafting``) the note drafted as
the visit goes, and shown at Stop, is the embedded drafter's; Stop also prepares a
``ModelDraft`` (``take_draft``) that the caller runs off the compute thread, and
``model_drafted`` applies its result. Until then the audio is kept (a drafter that
listens needs it), the note cannot be signed and roles cannot be swapped; a discard
cancels the draft and nothing of the visit survives it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any
from collections.abc import Sequence

from privacy.visit import Visit
from scribe.batch.export import audit_document
from scribe.batch.visit import audit_model_fields
from scribe.pipeline import Pipeline, VisitResult
from scribe.live.drafting import ModelDraft, audio_source
from scribe.live.events import (
    DraftFailedEvent,
    DraftingEvent,
    Event,
    FinalEvent,
    ModelNoteEvent,
    LineEvent,
    NoteEvent,
    PartialEvent,
    ReadyEvent,
    RolesEvent,
    StateEvent,
)
from scribe.live.streaming import CommittedLine, StreamingSession, StreamParams
from scribe.notes.base import draft_note
from scribe.notes.base import Drafter
from scribe.notes.render import drop_unsupported, editable_text
from scribe.notes.templates import Template, load_template
from scribe.types import ModelInfo, Note, Role, Transcript

logger = logging.getLogger("scribe.live.visit")


class State(str, Enum):
    recording = "recording"
    paused = "paused"
    stopped = "stopped"
    signed = "signed"
    discarded = "discarded"


class VisitStateError(ValueError):
    """An action the visit's state does not allow (signing while recording, ...)."""


_SWAP = {Role.CLINICIAN: Role.PATIENT, Role.PATIENT: Role.CLINICIAN}

# How often the growing draft note is re-drafted while recording: drafting is cheap, but
# the recorder does not need a new note for every line.
_NOTE_EVERY = 3.0
# Partial lines: only for an open utterance at least this long, at most this often.
_PARTIAL_MIN = 1.5
_PARTIAL_EVERY = 1.5


class LiveVisit:
    """One visit recorded live, from the first frame to signed (or discarded).

    ``pipeline`` supplies the models (shared by every visit of the service, whose one
    compute thread drives them all); ``visit`` is this visit's privacy container, which
    ``LiveVisit`` closes; ``template`` names the note template (None: the pipeline's);
    ``params`` tune the streaming session; ``model_drafter`` (a model drafter, drafting
    once at Stop) or None; ``terms`` words the speech model is to expect in this visit
    (``StreamingSession``). Actions the current ``state`` does not allow raise
    ``VisitStateError``."""

    def __init__(
        self,
        pipeline: Pipeline,
        visit: Visit,
        *,
        template: str | None = None,
        params: StreamParams = StreamParams(),
        model_drafter: Drafter | None = None,
        terms: Sequence[str] = (),
        voices: Sequence[Any] | None = None,
    ):
        self.pipeline = pipeline
        self.model_drafter = model_drafter
        self.model_note: Note | None = None  # the model's note, once drafted
        self.draft: ModelDraft | None = None  # the model draft, from Stop until signed
        self._draft_new: ModelDraft | None = None  # prepared, not yet taken by the caller
        self._generation = 0
        self.visit = visit
        self.id = visit.visit_id
        self.template: Template = load_template(template) if template else pipeline.template
        self.session = StreamingSession(pipeline, visit=visit, params=params, terms=terms, voices=voices)
        self.state = State.recording
        self.swapped = False
        self.last_active = time.monotonic()
        self.result: VisitResult | None = None
        self.started_at = datetime.now(timezone.utc)
        self.stopped_at: datetime | None = None
        self.signed_document: dict[str, Any] | None = None
        self._roles: dict[str, Role] = {}
        self._note_at = 0.0
        self._partial_at = 0.0
        self._partial_shown = False

    @property
    def privacy(self) -> bool:
        return self.visit.privacy

    def ready(self) -> ReadyEvent:
        """What a recorder that (re)connects needs: the state and the lines so far (a
        reloaded page or a dropped connection picks up where the visit is)."""
        roles = self._roles
        lines = () if self.session is None else tuple(_line(c, roles) for c in self.session.lines)
        return ReadyEvent(
            visit=self.id,
            privacy=self.privacy,
            state=self.state.value,
            template=self.template.id,
            received=self.session.received if self.session is not None else None,
            lines=lines,
            note_language=self.pipeline.options.note_language,
        )

    def review(self) -> FinalEvent:
        """The final event again, for a page reloaded while the note is under review."""
        if self.state is not State.stopped:
            raise VisitStateError(f"visit is {self.state.value}; nothing to review")
        transcript = self._final_transcript()
        return self._final_event(transcript, self._final_note(transcript))

    @property
    def drafting(self) -> bool:
        """A model draft of the stopped visit's note is queued or running."""
        return self.draft is not None and self.draft.pending

    def drafting_event(self) -> DraftingEvent | None:
        """Where the model draft is, or None when none is under way."""
        job = self.draft
        if job is None or not job.pending:
            return None
        return DraftingEvent(job.name, job.model, job.done, job.total)

    def take_draft(self) -> ModelDraft | None:
        """The model draft that Stop (or a role swap) prepared, once: the caller runs
        ``job.run`` off the compute thread, then ``model_drafted(job, note)``."""
        job, self._draft_new = self._draft_new, None
        return job

    def model_drafted(self, job: ModelDraft, note: Note | None) -> list[Event]:
        """Apply a finished model draft: its note replaces the embedded one (a
        ``model_note`` event; when the model drafts no patient instructions, the
        embedded drafter's stay with it), or its failure is said (``draft_failed``; the
        note in hand stays). A superseded or cancelled draft changes nothing. Privacy
        mode: the audio, kept for the model, is destroyed now."""
        if job is not self.draft or self.state is not State.stopped:
            return []
        self.visit.drop_audio()
        if note is None:
            if job.state == "cancelled":
                return []
            return [DraftFailedEvent(job.name, job.model, (job.error or "drafting failed") + "; the first draft is kept")]
        if not note.instructions:  # a model that drafts no patient instructions keeps the first draft's
            note = replace(note, instructions=self._final_note(self._final_transcript()).instructions)
        self.model_note = note
        return [ModelNoteEvent(note, editable_text(note))]

    # -- capture ------------------------------------------------------------------------

    def feed(self, pcm16: bytes) -> list[Event]:
        """Take audio (16 kHz mono PCM16, little-endian; any whole number of samples) and
        return the lines it committed with their roles and note updates. Raises
        ``VisitStateError`` unless recording."""
        self._require(State.recording, "send audio")
        self.last_active = time.monotonic()
        return self._committed(self.session.feed(pcm16))

    def partial(self) -> list[Event]:
        """Idle-time work, called when the service has nothing else to do: recognise a
        paused utterance ahead of its commit; else show the open utterance's words so
        far, if it is long enough and was not shown recently."""
        if self.state is not State.recording:
            return []
        if self.session.prepare():  # a paused utterance: get its commit ready first
            return []
        now = time.monotonic()
        if now - self._partial_at < _PARTIAL_EVERY:
            return []
        seg = self.session.partial(min_seconds=_PARTIAL_MIN)
        if seg is None:
            return []
        self._partial_at = now
        self.visit.mark_content(seg.text)
        self._partial_shown = True
        return [PartialEvent(seg.start, seg.end, seg.text)]

    def pause(self) -> list[Event]:
        """Commit what was said so far and stop taking audio until ``resume``."""
        self._require(State.recording, "pause")
        events = self._committed(self.session.flush())
        self.state = State.paused
        return events + [self._state("paused")]

    def resume(self) -> list[Event]:
        self._require(State.paused, "resume")
        self.state = State.recording
        return [self._state("recording")]

    def stop(self) -> list[Event]:
        """End capture: the last words are committed, speakers re-clustered over the
        whole visit, roles labelled and the note drafted. The audio is destroyed now."""
        if self.state not in (State.recording, State.paused):
            raise VisitStateError(f"visit is {self.state.value}; cannot stop")
        events = self._committed(self.session.flush())
        self.result = self.session.finish(template=self.template)
        self.stopped_at = datetime.now(timezone.utc)
        self.state = State.stopped
        transcript = self._final_transcript()
        note = self._final_note(transcript)
        if self.model_drafter is None or not transcript.segments:  # nothing for a model to draft
            self.visit.drop_audio()
        else:  # the audio is kept until the model has drafted (a drafter that listens)
            self._prepare_draft(transcript)
        self.visit.processed(
            audio_seconds=transcript.duration,
            segments=len(transcript.segments),
            speakers=len(self.result.annotation.labels()),
            **audit_model_fields(self.result.models),  # as a batch visit records them
            template=note.template,
        )
        return events + [self._final_event(transcript, note)]

    # -- review -------------------------------------------------------------------------

    def swap_roles(self) -> list[Event]:
        """Clinician <-> patient, for every speaker: what a click on a role label does."""
        if self.state in (State.signed, State.discarded):
            raise VisitStateError(f"visit is {self.state.value}; roles are final")
        if self.drafting:
            raise VisitStateError(f"the note is being drafted with {self.draft.name}; swap roles once it is ready")
        self.swapped = not self.swapped
        if self.result is not None:
            transcript = self._final_transcript()
            if self.model_drafter is not None and transcript.segments:  # the model drafts again, for these roles
                self.model_note = None
                self._prepare_draft(transcript)
            return [self._final_event(transcript, self._final_note(transcript))]
        roles = self._provisional_roles()
        return [RolesEvent(roles), *self._note_event(roles, force=True)]

    def sign(self, text: str) -> dict[str, Any]:
        """The clinician's edited note becomes final; the visit then ends (privacy mode:
        transcript and key destroyed). Lines still marked ``[UNSUPPORTED]`` are left out
        (``drop_unsupported``). Returns the FHIR DocumentReference. Refused while a
        model drafts the note."""
        from scribe.fhir.document_reference import build_document_reference

        self._require(State.stopped, "sign")
        self.require_drafted("sign")
        text = drop_unsupported(text)[0].strip()
        if not text:
            raise VisitStateError("the note is empty; nothing to sign")
        transcript = self._final_transcript()
        note = self._final_note(transcript)
        doc = build_document_reference(
            replace(note, status="final"),
            text + "\n",
            models=self.models(note),
            created=datetime.now(timezone.utc),
            identifier=str(uuid.UUID(self.id)),
            plain_text=text + "\n",
            period=(self.started_at, self.stopped_at or datetime.now(timezone.utc)),
            languages=list(transcript.languages()),  # the visit's, as the document says (context.event)
        )
        self.signed_document = doc
        audit_document(self.visit.signed, doc)
        self.state = State.signed
        self._forget()
        self.visit.close()
        return doc

    def models(self, note: Note) -> tuple[ModelInfo, ...]:
        """What made ``note``: the pipeline's models, the drafter being the one that
        wrote it (the model drafter's, once its note replaced the embedded one)."""
        models = self.pipeline.models
        if not note.drafter:
            return models
        drafter = ModelInfo("drafter", note.drafter, note.drafter_version)
        return tuple(drafter if m.kind == "drafter" else m for m in models)

    def export(self) -> bytes:
        """The signed note's FHIR JSON, as downloaded; each export is audited."""
        if self.signed_document is None:
            raise VisitStateError("the note is not signed yet")
        self.last_active = time.monotonic()
        body = json.dumps(self.signed_document, indent=2, ensure_ascii=False).encode("utf-8")
        audit_document(self.visit.exported, body, format="fhir")
        return body

    def sent(self) -> None:
        """The signed note was filed on the EHR's FHIR server; audited."""
        self.last_active = time.monotonic()
        audit_document(self.visit.exported, self.signed_document, format="fhir")

    def discard(self, reason: str = "user_request") -> None:
        """End the visit now; nothing of it is kept (privacy mode) and the audit log
        records ``reason``. Idempotent; a signed visit is already closed."""
        if self.state is State.discarded:
            return
        was_signed = self.state is State.signed
        self.state = State.discarded
        self.signed_document = None
        self._forget()
        if was_signed:
            return
        job, self.draft = self.draft, None
        close = lambda: self.visit.close(discarded=True, reason=reason)  # noqa: E731
        if job is not None and job.cancel(close):
            return  # the drafting thread closes the visit once the model lets go of its audio
        close()

    def summary(self) -> dict[str, Any]:
        """The visit as the service lists it: id, state, privacy, template and the
        seconds of audio received (to 0.1 s; None once it ended)."""
        return {
            "visit": self.id,
            "state": self.state.value,
            "privacy": self.privacy,
            "template": self.template.id,
            "seconds": round(self.session.received, 1) if self.session else None,
        }

    # -- internals ----------------------------------------------------------------------

    def _require(self, state: State, action: str) -> None:
        if self.state is not state:
            raise VisitStateError(f"visit is {self.state.value}; cannot {action}")

    def require_drafted(self, action: str) -> None:
        """Raises ``VisitStateError`` while a model drafts the note."""
        job = self.draft
        if job is not None and job.pending:
            where = f" ({job.done}/{job.total})" if job.total else ""
            raise VisitStateError(
                f"the note is still being drafted with {job.name}{where}; {action} once it is ready"
            )

    def _prepare_draft(self, transcript: Transcript) -> None:
        """A model draft of ``transcript``'s note, for the caller to run (``take_draft``);
        a draft already under way is cancelled (its result is ignored)."""
        assert self.model_drafter is not None
        if self.draft is not None:
            self.draft.cancel()
        self._generation += 1
        self.draft = ModelDraft(self.model_drafter, transcript, self.template, audio_source(self.visit),
                                self._generation)
        self._draft_new = self.draft

    def _state(self, state: str, message: str = "") -> StateEvent:
        return StateEvent(state, message)

    def _committed(self, lines: list[CommittedLine]) -> list[Event]:
        if not lines:
            return []
        events: list[Event] = []
        if self._partial_shown:  # the partial became these lines
            events.append(PartialEvent.cleared())
            self._partial_shown = False
        roles = self._provisional_roles()
        events += [_line(line, roles) for line in lines]
        if roles != self._roles:
            self._roles = roles
            events.append(RolesEvent(roles))
        return events + self._note_event(roles)

    def _provisional_roles(self) -> dict[str, Role]:
        t = self.pipeline.role_labeller.label(self._provisional())
        return {spk: _SWAP.get(r, r) if self.swapped else r for spk, r in t.speakers.items()}

    def _provisional(self) -> Transcript:
        # A provisional speaker with an enrolled clinician's voice is the clinician now.
        return Transcript(
            segments=tuple(line.segment for line in self.session.lines),
            duration=self.session.received,
            language=self.session.language or "en",
            speakers={spk: Role.CLINICIAN for spk in self.session.enrolled},
            # The growing note is drafted in the note language too (translations in place
            # of speech in another language: Transcript.for_note).
            note_language=self.pipeline.options.note_language,
        )

    def _note_event(self, roles: dict[str, Role], force: bool = False) -> list[Event]:
        """The growing draft, from the provisional transcript with ``roles`` (the caller
        has just labelled them)."""
        now = time.monotonic()
        if not force and now - self._note_at < _NOTE_EVERY:
            return []
        self._note_at = now
        t = self._provisional()
        t = replace(
            t,
            segments=tuple(replace(s, role=roles.get(s.speaker, Role.UNKNOWN)) for s in t.segments),
            speakers=roles,
        )
        note = draft_note(self.pipeline.drafter, t, self.template)
        return [NoteEvent(note, editable_text(note))]

    def _final_transcript(self) -> Transcript:
        assert self.result is not None
        t = self.result.transcript
        if not self.swapped:
            return t
        segments = tuple(replace(s, role=_SWAP.get(s.role, s.role)) for s in t.segments)
        return replace(t, segments=segments, speakers={k: _SWAP.get(r, r) for k, r in t.speakers.items()})

    def _final_note(self, transcript: Transcript) -> Note:
        assert self.result is not None
        if self.model_note is not None:
            return self.model_note
        if not self.swapped:
            return self.result.note
        return draft_note(self.pipeline.drafter, transcript, self.template)

    def _final_event(self, transcript: Transcript, note: Note) -> FinalEvent:
        return FinalEvent(self.privacy, transcript, note, editable_text(note), self.drafting_event())

    def _forget(self) -> None:
        # What is dropped here is only referenced from this object: the transcript's
        # Python strings go with it (they cannot be zeroed, only released).
        self.result = None
        self.model_note = None
        self._draft_new = None
        if self.session is not None:
            self.session.close()  # a visit discarded mid-recording: its held audio is zeroed
        self.session = None  # type: ignore[assignment]
        self._roles = {}


def _line(line: CommittedLine, roles: dict[str, Role]) -> LineEvent:
    """A committed line with its speaker's provisional role."""
    s = line.segment
    return LineEvent(replace(s, role=roles.get(s.speaker, Role.UNKNOWN)), line.utterance_end)
