"""What a recorder sees of a live visit: one frozen event type per message.

``LiveVisit`` returns these; the capture service serialises each with ``to_json()`` (a
JSON object, ``json.dumps``-ready) and sends it over the visit's WebSocket or in an HTTP
response. The recorder page (``scribe/service/recorder/recorder.js``, ``review.js``)
dispatches on ``"type"``. ``text`` is the note and ``instructions_text`` the patient
instructions as the clinician edits and signs them (``scribe.notes.render.editable_text``;
"" when there are none). Times are seconds from the start of the visit's audio; the wire
format rounds some of them (noted per field) and nothing else: an event holds the exact
values.

=========  ===========================================================================
type       JSON fields
=========  ===========================================================================
ready      visit, privacy, state, template, note_language, received, lines (line events,
           no change)
partial    start, end, text: the open utterance so far; replaced, may change
line       id, start, end, text, speaker, role, language, translation, utterance_end:
           committed, never changes (``language``: what was said, ISO 639-1 or null;
           ``translation``: its text in the note language, or null)
roles      roles {speaker: role}: provisional roles changed (or were swapped)
note       final (false), note (sections and evidence, instructions, omissions,
           counts), text, instructions_text: the growing draft
final      privacy, transcript, roles, note, text, instructions_text, duration, drafting:
           after stop (re-clustered); ``drafting`` is the model draft under way (a
           ``drafting`` event's fields without its type) or null
drafting   drafter, model, done, total: a model drafter is drafting the stopped
           visit's note (steps done of total; total 0 until the drafter knows it)
model_note drafter, note, text, instructions_text: the model's note, replacing the
           final event's (its editable texts likewise)
draft_failed  drafter, model, message: the model draft failed; the note in hand stays
state      state, message
error      message
pong       (none): the answer to a recorder's ping
=========  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from scribe.notes.render import editable_text
from scribe.types import Note, Role, Segment, Transcript

JSON = dict[str, Any]


def instructions_text(note: Note) -> str:
    """The patient instructions of ``note`` as the clinician edits and signs them: the
    editable text of ``note.instructions_note()``; "" when there are none."""
    return editable_text(note.instructions_note())


def segment_json(s: Segment) -> JSON:
    """A transcript line as the recorder shows it: start and end rounded to 10 ms, no
    words, the role by its value; ``language`` the ISO 639-1 code of what was said (null
    when unknown) and ``translation`` its text in the note language (null when it was
    said in the note language or is not translated)."""
    return {
        "id": s.id,
        "start": round(s.start, 2),
        "end": round(s.end, 2),
        "text": s.text,
        "speaker": s.speaker,
        "role": s.role.value,
        "language": s.language,
        "translation": s.translation,
    }


def roles_json(roles: Mapping[str, Role]) -> dict[str, str]:
    """``{speaker: role value}``, sorted by speaker."""
    return {spk: r.value for spk, r in sorted(roles.items())}


@dataclass(frozen=True)
class LineEvent:
    """A committed transcript line: once sent it never changes.

    ``segment`` carries the provisional role of its speaker; ``utterance_end`` is where
    the speech paused (seconds, sent rounded to 1 ms)."""

    segment: Segment
    utterance_end: float
    type: ClassVar[str] = "line"

    def to_json(self) -> JSON:
        return {"type": self.type, **segment_json(self.segment), "utterance_end": round(self.utterance_end, 3)}


@dataclass(frozen=True)
class ReadyEvent:
    """What a recorder that (re)connects needs to pick up where the visit is.

    ``state`` is the visit's ``State`` value; ``received`` the seconds of audio received
    so far (sent rounded to 1 ms), None once the visit has ended; ``lines`` the
    committed lines so far, in order."""

    visit: str
    privacy: bool
    state: str
    template: str
    received: float | None
    lines: tuple[LineEvent, ...] = ()
    note_language: str = "en"  # the note's language: lines said in another show their translation
    type: ClassVar[str] = "ready"

    def to_json(self) -> JSON:
        return {
            "type": self.type,
            "visit": self.visit,
            "privacy": self.privacy,
            "state": self.state,
            "template": self.template,
            "note_language": self.note_language,
            "received": round(self.received, 3) if self.received is not None else None,
            "lines": [line.to_json() for line in self.lines],
        }


@dataclass(frozen=True)
class PartialEvent:
    """The open utterance's words so far (seconds, exact): shown, replaced by the next
    partial, never kept. ``cleared()`` (no times, no text) removes it once it became
    committed lines."""

    start: float | None
    end: float | None
    text: str
    type: ClassVar[str] = "partial"

    @classmethod
    def cleared(cls) -> PartialEvent:
        return cls(None, None, "")

    def to_json(self) -> JSON:
        return {"type": self.type, "start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class RolesEvent:
    """Every speaker's provisional role, after they changed or were swapped."""

    roles: Mapping[str, Role]
    type: ClassVar[str] = "roles"

    def to_json(self) -> JSON:
        return {"type": self.type, "roles": roles_json(self.roles)}


@dataclass(frozen=True)
class NoteEvent:
    """The growing draft while recording: ``note`` with its sections and evidence (its
    patient instructions and omissions too), ``text``, the note as the clinician edits
    it, and ``instructions_text``, the instructions so. Never final (that is
    ``FinalEvent``)."""

    note: Note
    text: str
    type: ClassVar[str] = "note"

    def to_json(self) -> JSON:
        return {"type": self.type, "final": False, "note": self.note.to_dict(), "text": self.text,
                "instructions_text": instructions_text(self.note)}


@dataclass(frozen=True)
class FinalEvent:
    """After stop: the transcript with speakers re-clustered over the whole visit and
    roles labelled (or swapped), the drafted note and its editable ``text`` (and
    ``instructions_text``, as in ``NoteEvent``). Segment times are sent rounded to
    10 ms; ``duration`` (seconds) exact."""

    privacy: bool
    transcript: Transcript
    note: Note
    text: str
    drafting: DraftingEvent | None = None
    type: ClassVar[str] = "final"

    def to_json(self) -> JSON:
        return {
            "type": self.type,
            "privacy": self.privacy,
            "transcript": [segment_json(s) for s in self.transcript.segments],
            "roles": roles_json(self.transcript.speakers),
            "note": self.note.to_dict(),
            "text": self.text,
            "instructions_text": instructions_text(self.note),
            "duration": self.transcript.duration,
            "drafting": None if self.drafting is None else self.drafting.fields(),
        }


@dataclass(frozen=True)
class DraftingEvent:
    """A model drafter (``drafter``, its model ``model``: the folder or file name) is
    drafting the stopped visit's note: ``done`` steps of ``total`` (transcript chunks or
    audio windows; ``total`` is 0 until the drafter has counted them)."""

    drafter: str
    model: str
    done: int = 0
    total: int = 0
    type: ClassVar[str] = "drafting"

    def fields(self) -> JSON:
        return {"drafter": self.drafter, "model": self.model, "done": self.done, "total": self.total}

    def to_json(self) -> JSON:
        return {"type": self.type, **self.fields()}


@dataclass(frozen=True)
class ModelNoteEvent:
    """The model drafter's note for the stopped visit: it replaces the note of the
    ``final`` event (``text`` and ``instructions_text`` as there; flagged sentences
    carry ``UNSUPPORTED_MARK`` in them, the guard's reasons and the counts in ``note``)."""

    note: Note
    text: str
    type: ClassVar[str] = "model_note"

    def to_json(self) -> JSON:
        return {"type": self.type, "drafter": self.note.drafter, "note": self.note.to_dict(), "text": self.text,
                "instructions_text": instructions_text(self.note)}


@dataclass(frozen=True)
class DraftFailedEvent:
    """The model draft failed (``message``: one line, never quoting the visit); the
    note the page has (the embedded drafter's) stays, nothing captured is lost."""

    drafter: str
    model: str
    message: str
    type: ClassVar[str] = "draft_failed"

    def to_json(self) -> JSON:
        return {"type": self.type, "drafter": self.drafter, "model": self.model, "message": self.message}


@dataclass(frozen=True)
class StateEvent:
    """The visit moved to ``state`` (a ``State`` value: paused, recording)."""

    state: str
    message: str = ""
    type: ClassVar[str] = "state"

    def to_json(self) -> JSON:
        return {"type": self.type, "state": self.state, "message": self.message}


@dataclass(frozen=True)
class ErrorEvent:
    """Something the recorder asked for was refused or failed; ``message`` is for the
    clinician and never quotes the visit."""

    message: str
    type: ClassVar[str] = "error"

    def to_json(self) -> JSON:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True)
class PongEvent:
    """The answer to a recorder's ``ping``."""

    type: ClassVar[str] = "pong"

    def to_json(self) -> JSON:
        return {"type": self.type}


Event = Union[
    ReadyEvent, PartialEvent, LineEvent, RolesEvent, NoteEvent, FinalEvent, DraftingEvent, ModelNoteEvent,
    DraftFailedEvent, StateEvent, ErrorEvent, PongEvent,
]
