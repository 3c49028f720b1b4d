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
    """

    id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    role: Role = Role.UNKNOWN

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
        )


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a result, echoed into every output."""

    kind: str  # "speech", "vad", "speaker-embedding", "drafter"
    name: str
    version: str
    path: str | None = None


@dataclass(frozen=True)
class Transcript:
    """A visit's diarized, role-labelled transcript."""

    segments: tuple[Segment, ...]
    duration: float
    language: str
    speakers: dict[str, Role] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

    def segment_ids(self) -> set[str]:
        return {s.id for s in self.segments}

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "language": self.language,
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
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "title": self.title,
            "loinc": self.loinc,
            "status": self.status,
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
        )
