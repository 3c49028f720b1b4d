"""Typed results of a visit: what every stage hands the next and what writers serialise.

Results are frozen dataclasses; a stage that refines a result (the diarizer giving a
segment its speaker, the role labeller its role) returns a new one with
``dataclasses.replace`` instead of mutating what an earlier stage produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any


class Role(str, Enum):
    """Who a speaker is in the visit."""

    CLINICIAN = "clinician"
    PATIENT = "patient"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    """One transcript line: a single speaker's contiguous speech.

    ``id`` is stable within a transcript ("s0", "s1", ...) and is what note
    sentences cite as their evidence.

    ``text`` and ``words`` are what was said, in the language said (``language``, an
    ISO 639-1 code such as ``"es"``; None in a transcript written before languages were
    recorded per segment: the transcript's ``language``). ``translation`` is the
    segment's text in the transcript's ``note_language`` when it was said in another
    language and translated (``scribe.speech.translation``); None when it was said in the
    note language, or when no translation could be placed on it (the note then leaves it
    out; the clinician still sees the original).
    """

    id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    role: Role = Role.UNKNOWN
    language: str | None = None
    translation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["role"] = self.role.value
        d["words"] = [asdict(w) for w in self.words]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Segment":
        return cls(
            id=d["id"],
            start=float(d["start"]),
            end=float(d["end"]),
            text=d["text"],
            words=tuple(Word(**w) for w in d.get("words", ())),
            speaker=d.get("speaker"),
            role=Role(d.get("role", Role.UNKNOWN.value)),
            language=d.get("language"),
            translation=d.get("translation"),
        )


def main_language(segments) -> str | None:
    """The language most of ``segments``' time was said in (``Segment.language``,
    seconds summed); None when no segment says."""
    seconds: dict[str, float] = {}
    for s in segments:
        if s.language:
            seconds[s.language] = seconds.get(s.language, 0.0) + s.end - s.start
    return max(seconds, key=seconds.__getitem__) if seconds else None


@dataclass(frozen=True)
class Translation:
    """Speech translated into another language, timed but not word by word: what a
    speech model's translate task gives for one stretch of a visit (about a sentence).
    ``scribe.speech.translation.attach_translations`` places each on the transcript
    segment it overlaps most.

    Attributes
    ----------
    start, end : float
        Seconds from the start of the visit.
    source : str
        ISO 639-1 code of the language spoken.
    target : str
        ISO 639-1 code of ``text``'s language.
    text : str
        The translation.
    """

    start: float
    end: float
    source: str
    target: str
    text: str


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a result, echoed into every output."""

    kind: str  # "speech", "vad", "speaker-embedding", "drafter"
    name: str
    version: str
    path: str | None = None


@dataclass(frozen=True)
class Transcript:
    """A visit's diarized, role-labelled transcript.

    ``language`` is the visit's main language (the one most of its speech time was in;
    each segment's own is ``Segment.language``). ``note_language`` is the language the
    note is drafted in: segments said in another language carry their translation into
    it, and ``for_note`` is the transcript as drafters read it.
    """

    segments: tuple[Segment, ...]
    duration: float
    language: str
    speakers: dict[str, Role] = field(default_factory=dict)
    note_language: str = "en"

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

    def segment_ids(self) -> set[str]:
        return {s.id for s in self.segments}

    def language_of(self, segment: Segment) -> str:
        """``segment``'s language (the transcript's when the segment does not say)."""
        return segment.language or self.language

    def languages(self) -> dict[str, float]:
        """Seconds of speech per language (segments' spans summed), most first; the
        ``[overlap]`` markers (no words, no language) are not counted."""
        out: dict[str, float] = {}
        for s in self.segments:
            if s.words or s.language:
                lang = self.language_of(s)
                out[lang] = out.get(lang, 0.0) + max(s.end - s.start, 0.0)
        return {k: round(float(v), 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}

    def for_note(self) -> "Transcript":
        """This transcript as a drafter reads it: in ``note_language``. A segment said in
        it is kept as it is; one said in another language and translated becomes its
        translation (same id, so a note sentence drafted from it cites the original
        segment; no words, since the words timed are the original's); one said in
        another language without a translation is left out. Segments without a language
        and words (``[overlap]`` markers) are kept."""
        if all(self.language_of(s) == self.note_language for s in self.segments):
            return self
        kept: list[Segment] = []
        for s in self.segments:
            if self.language_of(s) == self.note_language or (not s.words and not s.language):
                kept.append(s)
            elif s.translation:
                kept.append(replace(s, text=s.translation, words=(), language=self.note_language, translation=None))
        return replace(self, segments=tuple(kept), language=self.note_language)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "language": self.language,
            "languages": self.languages(),
            "note_language": self.note_language,
            "speakers": {k: v.value for k, v in self.speakers.items()},
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Transcript":
        return cls(
            segments=tuple(Segment.from_dict(s) for s in d["segments"]),
            duration=float(d["duration"]),
            language=d.get("language", "en"),
            speakers={k: Role(v) for k, v in d.get("speakers", {}).items()},
            note_language=d.get("note_language", "en"),
        )


INSTRUCTIONS_LOINC = "69730-0"
"""LOINC document type of the after-visit summary (patient instructions): "Instructions",
the code C-CDA's Instructions section and document-type value sets use (loinc.org/69730-0)."""

OMISSION_KINDS = ("symptom", "medication", "allergy", "number", "follow-up")


@dataclass(frozen=True)
class NoteSentence:
    """One sentence of the draft note and the transcript segments it rests on.

    ``flags`` is empty for a supported sentence. A model-drafted sentence the grounding
    guard (``scribe.notes.guard``) does not support carries the guard's reasons
    ("coverage 0.21 below 0.38", "number 20 not said", "side left not said"): it stays in
    the note, visibly flagged, until the clinician accepts or deletes it, and is left out
    of exported FHIR text until then.
    """

    text: str
    evidence: tuple[str, ...]
    flags: tuple[str, ...] = ()

    @property
    def supported(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "evidence": list(self.evidence), "supported": self.supported}
        if self.flags:
            d["flags"] = list(self.flags)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NoteSentence":
        return cls(
            text=str(d["text"]),
            evidence=tuple(str(e) for e in d.get("evidence", ())),
            flags=tuple(str(f) for f in d.get("flags", ())),
        )


@dataclass(frozen=True)
class NoteCounts:
    """What a note reports of itself: sentences the transcript supports, sentences the
    grounding guard flagged (model drafters only; always 0 for the embedded drafter,
    whose sentences are the transcript's own words), and omissions (salient facts said
    but not carried, ``scribe.notes.omissions``). Patient instructions included."""

    supported: int
    unsupported: int
    omissions: int

    def to_dict(self) -> dict[str, int]:
        return {"supported": self.supported, "unsupported": self.unsupported, "omissions": self.omissions}


@dataclass(frozen=True)
class Omission:
    """A clinically salient fact said in the visit that the note does not carry.

    ``kind`` is one of ``OMISSION_KINDS``; ``text`` is the fact as said (a few words,
    e.g. "metformin 1000 milligrams"); ``evidence`` the segment ids where it was said.
    Listed in the note's review footer so the clinician sees what may be missing.
    """

    kind: str
    text: str
    evidence: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "evidence": list(self.evidence)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Omission":
        return cls(kind=str(d["kind"]), text=str(d["text"]), evidence=tuple(str(e) for e in d.get("evidence", ())))


@dataclass(frozen=True)
class NoteSection:
    id: str
    title: str
    sentences: tuple[NoteSentence, ...]
    loinc: str | None = None
    empty_text: str = "Not discussed."


@dataclass(frozen=True)
class Note:
    """A draft visit note, section by section, every sentence with evidence.

    ``instructions`` is the after-visit summary for the patient (plain language, drawn
    from the plan and the clinician's advice, same evidence links); ``omissions`` the
    salient facts said but not carried (filled by ``scribe.notes.omissions``);
    ``drafter``/``drafter_version`` name the backend that wrote it.
    """

    template: str
    title: str
    loinc: str
    sections: tuple[NoteSection, ...]
    status: str = "preliminary"  # preliminary (AI draft) until a clinician signs
    instructions: tuple[NoteSentence, ...] = ()
    omissions: tuple[Omission, ...] = ()
    drafter: str = ""
    drafter_version: str = ""
    language: str = "en"  # ISO 639-1: the language the note is written in (Transcript.note_language)

    def sentences(self) -> list[NoteSentence]:
        return [s for sec in self.sections for s in sec.sentences]

    def counts(self) -> NoteCounts:
        """Supported and flagged sentences (sections and instructions) and omissions."""
        every = [*self.sentences(), *self.instructions]
        flagged = sum(1 for s in every if not s.supported)
        return NoteCounts(len(every) - flagged, flagged, len(self.omissions))

    def supported_only(self) -> "Note":
        """This note without the sentences the grounding guard flagged: what exported
        FHIR text carries until the clinician keeps a flagged sentence (by accepting it,
        which clears its flags) or deletes it."""
        return replace(
            self,
            sections=tuple(
                replace(sec, sentences=tuple(s for s in sec.sentences if s.supported)) for sec in self.sections
            ),
            instructions=tuple(s for s in self.instructions if s.supported),
        )

    @property
    def is_empty(self) -> bool:
        return not self.sentences()

    def instructions_note(self) -> "Note":
        """The patient instructions as a note of their own (one section, document type
        ``INSTRUCTIONS_LOINC``), so they render, sign and export as a separate document.
        Empty (``is_empty``) when the drafter found no plan or advice to restate."""
        return Note(
            template=f"{self.template}.instructions",
            title="Patient instructions",
            loinc=INSTRUCTIONS_LOINC,
            sections=(
                NoteSection(
                    id="instructions",
                    title="Your instructions",
                    sentences=self.instructions,
                    loinc=INSTRUCTIONS_LOINC,
                    empty_text="No instructions were given.",
                ),
            ),
            status=self.status,
            drafter=self.drafter,
            drafter_version=self.drafter_version,
            language=self.language,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "title": self.title,
            "loinc": self.loinc,
            "status": self.status,
            "language": self.language,
            "drafter": {"name": self.drafter, "version": self.drafter_version},
            "sections": [
                {
                    "id": sec.id,
                    "title": sec.title,
                    "loinc": sec.loinc,
                    "empty_text": sec.empty_text,
                    "sentences": [s.to_dict() for s in sec.sentences],
                }
                for sec in self.sections
            ],
            "instructions": {
                "loinc": INSTRUCTIONS_LOINC,
                "sentences": [s.to_dict() for s in self.instructions],
            },
            "omissions": [o.to_dict() for o in self.omissions],
            "counts": self.counts().to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Note":
        drafter = d.get("drafter") or {}
        return cls(
            template=str(d["template"]),
            title=str(d["title"]),
            loinc=str(d["loinc"]),
            status=str(d.get("status", "preliminary")),
            sections=tuple(
                NoteSection(
                    id=str(sec["id"]),
                    title=str(sec["title"]),
                    loinc=sec.get("loinc"),
                    empty_text=str(sec.get("empty_text", "Not discussed.")),
                    sentences=tuple(NoteSentence.from_dict(s) for s in sec.get("sentences", ())),
                )
                for sec in d.get("sections", ())
            ),
            instructions=tuple(
                NoteSentence.from_dict(s) for s in (d.get("instructions") or {}).get("sentences", ())
            ),
            omissions=tuple(Omission.from_dict(o) for o in d.get("omissions", ())),
            drafter=str(drafter.get("name", "")),
            drafter_version=str(drafter.get("version", "")),
            language=str(d.get("language", "en")),
        )
