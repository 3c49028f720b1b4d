"""Draft a visit note from a role-labelled transcript, offline and deterministically.

The drafter only ever restates what was said. Each note sentence is a cleaned-up
transcript sentence (spacing, capitals, repeated words from disfluency removed) behind a
fixed lead-in naming who said it, or a clinician's question paired with the patient's
short answer. Nothing is paraphrased, summarised or inferred, so a reviewer can check
every sentence against the segments it cites and no diagnosis appears that nobody said.
Registered as ``"extractive"`` in ``scribe.notes.DRAFTERS``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scribe.notes.templates import Template, TemplateSection
from scribe.options import ScribeOptions
from scribe.speakers.roles import apply_roles, count_questions
from scribe.types import Note, NoteSection, NoteSentence, Role, Segment, Transcript

logger = logging.getLogger("scribe.notes.extractive")


# Fixed wording the drafter adds around what was said. Tests exempt exactly these words
# from the "every word comes from the evidence" check, so keep the set small and closed.
PATIENT_LEAD = "Patient reports:"
OTHER_LEAD = "Companion reports:"
UNKNOWN_LEAD = "Reported:"
QA_ASKED = "Asked:"
QA_ANSWERED = "Answer:"
LEAD_IN_WORDS = frozenset({"patient", "reports", "companion", "reported", "asked", "answer"})

_LEADS = {Role.PATIENT: PATIENT_LEAD, Role.OTHER: OTHER_LEAD, Role.UNKNOWN: UNKNOWN_LEAD}

_STOP = frozenset(
    """a an the and or but so if then than that this these those there here it its it's i
    i'm i've i'd me my you your you're we we're our us he she him her his they them their
    is am are was were be been being do does did done have has had having will would can
    could should shall may might must to of in on at by for with from about as into up
    down out over just very really yeah yes no not okay ok alright right well um uh um
    mm-hmm hmm like know think kind sort gon na going get got go lot little bit thing
    things stuff all any some what how when where why which who whom also too now still
    again back one because actually oh sure good great fine""".split()
)

_SMALL_TALK = re.compile(
    r"\b(?:hi|hello|hey|bye|goodbye|thank you|thanks|nice to (?:meet|see)|good to (?:meet|see)|"
    r"how are you|how're you|how are we|have a (?:good|great|nice)|take care|dax|"
    r"see you|you're welcome|no problem|sounds good|perfect|awesome|wonderful|"
    r"the weather|weekend|any other questions|anything else)\b"
)
_LEADING_FILLER = re.compile(
    r"^(?:(?:so|and|okay|ok|alright|all right|um|uh|well|yeah|mm-hmm|hmm|oh|but|now|you know|"
    r"like|right)\b[ ,.-]*)+"
)
_REPEAT = re.compile(r"\b(\w+(?:'\w+)?)(?:\s*,?\s+\1\b)+")
_YESNO = re.compile(r"^(?:yes|yeah|yep|no|nope|nah|not really|never|none|correct|i do|i did|i have|i am|i'm not|i don't|i do n't|i haven't|i have n't|uh-huh|mm-hmm|a little|sometimes)\b")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class DraftParams:
    # A sentence matching no section cue needs this many content words to count as
    # history rather than chatter; one matching a cue needs one ("I have a cough").
    min_content_words: int = 2
    short_answer_words: int = 8  # a patient reply this short is read with the question asked
    max_sentence_words: int = 60  # longer unpunctuated runs are cut at discourse markers
    dedup_jaccard: float = 0.8  # content-word overlap above which two sentences are one


@dataclass(frozen=True)
class _Sentence:
    text: str  # cleaned, without lead-in
    role: Role
    evidence: tuple[str, ...]
    question: bool
    cue_text: str  # lower-cased text that cues are matched against


def clean(text: str) -> str:
    """Spacing and disfluency clean-up that adds no words (ASR/ACI tokenisation artefacts)."""
    t = text.strip()
    t = re.sub(r"\s+([,.?!;:%])", r"\1", t)
    t = re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", t)
    t = re.sub(r"\$\s+(\d)", r"$\1", t)
    # "gon na" stays split: joining it would make a word the transcript does not contain.
    t = re.sub(r"(?:\s*\.\.\.\s*|\s*-\s+)", " ", t)
    t = _REPEAT.sub(r"\1", t)
    t = re.sub(r",\s*,+", ",", t)
    t = re.sub(r"\s{2,}", " ", t).strip(" ,")
    return t


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


def _split(text: str, max_words: int) -> list[str]:
    pieces = [p for p in re.split(r"(?<=[.?!])\s+", text) if p.strip()]
    out: list[str] = []
    for p in pieces:
        if len(p.split()) <= max_words:
            out.append(p)
            continue
        # Unpunctuated ASR runs: cut where speakers start a new thought.
        chunks = re.split(r"\s+(?=(?:okay|alright|all right|so|and then|um|uh)\b)", p)
        buf = ""
        for c in chunks:
            if buf and len((buf + " " + c).split()) > max_words:
                out.append(buf)
                buf = c
            else:
                buf = f"{buf} {c}".strip()
        if buf:
            out.append(buf)
    return out


def _finish(text: str) -> str:
    t = _LEADING_FILLER.sub("", text).strip(" ,")
    t = re.sub(r"\bi\b", "I", t)
    t = re.sub(r"\bi'", "I'", t)
    if not t:
        return t
    t = t[0].upper() + t[1:]
    if t[-1] not in ".?!":
        t += "."
    return t


def _is_filler(text: str, params: DraftParams) -> bool:
    words = content_words(text)
    if not words:
        return True
    # Greetings and pleasantries: small talk unless the sentence has real content besides.
    return bool(_SMALL_TALK.search(text.lower())) and len(words) < 5


def _route(sentence: _Sentence, template: Template) -> tuple[TemplateSection | None, bool]:
    """The section a sentence goes to, and whether a cue (not the fallback) chose it."""
    best: TemplateSection | None = None
    best_score: tuple[float, int] = (0.0, 0)
    for sec in template.sections:
        # With no roles known (a lone unlabelled voice) any section may take the sentence.
        if sentence.role not in sec.roles and sentence.role is not Role.UNKNOWN:
            continue
        # Longer cues are more specific: "chest pain" says more than "pain".
        score = sum(
            len(c.split()) for c in sec.cues if re.search(r"(?<![a-z0-9])" + re.escape(c) + r"(?![a-z0-9])", sentence.cue_text)
        )
        if score > 0 and (score, sec.priority) > best_score:
            best, best_score = sec, (score, sec.priority)
    if best is not None:
        return best, True
    for sec in template.sections:
        if sentence.role in sec.fallback or (sentence.role is Role.UNKNOWN and sec.fallback):
            return sec, False
    return None, False


class ExtractiveDrafter:
    """Routes restated transcript sentences into template sections by cue and role
    (``scribe.notes.Drafter``)."""

    name = "extractive"
    version = "0.1.0"

    def __init__(self, params: DraftParams = DraftParams()):
        self.params = params

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "ExtractiveDrafter":
        """No options of its own yet: ``DraftParams`` defaults."""
        return cls()

    def _sentences(self, segments: Sequence[Segment]) -> list[_Sentence]:
        p = self.params
        out: list[_Sentence] = []
        last_question: tuple[str, str] | None = None  # (question text, segment id)
        for seg in segments:
            raw = [clean(s) for s in _split(seg.text.strip(), p.max_sentence_words)]
            raw = [s for s in raw if s]
            if not raw:
                continue
            if seg.role is Role.CLINICIAN:
                for s in raw:
                    if count_questions(s):
                        if not _is_filler(s, p):
                            last_question = (s, seg.id)
                        continue
                    if not _is_filler(s, p):
                        out.append(_Sentence(s, seg.role, (seg.id,), False, s.lower()))
                continue
            # A short reply is meaningless alone ("no, not that I've noticed"); with the
            # question it answers it is history ("Asked: any chest pain? Answer: no.").
            first = _LEADING_FILLER.sub("", raw[0].lower()).strip(" ,")
            if (
                last_question is not None
                and len(raw[0].split()) <= p.short_answer_words
                and _YESNO.match(first)
            ):
                q, qid = last_question
                out.append(
                    _Sentence(
                        f"{QA_ASKED} {_finish(q)} {QA_ANSWERED} {_finish(raw[0])}",
                        seg.role,
                        (qid, seg.id),
                        True,
                        f"{q} {raw[0]}".lower(),
                    )
                )
                raw = raw[1:]
            # The question a reply answers says what the reply is about ("what brings you
            # in" -> chief complaint), so the first sentence is routed with it in view.
            context = last_question[0].lower() + " " if last_question else ""
            last_question = None
            for s in raw:
                if count_questions(s) and s.rstrip().endswith("?"):
                    continue  # a patient's question is not a fact about them
                if not _is_filler(s, p):
                    out.append(_Sentence(s, seg.role, (seg.id,), False, context + s.lower()))
                context = ""
        return out

    def draft(self, transcript: Transcript, template: Template) -> Note:
        segments = transcript.segments
        # A transcript straight from the diarizer has no roles yet; routing needs them.
        if segments and all(s.role is Role.UNKNOWN for s in segments):
            segments = apply_roles(transcript).segments
        valid_ids = {s.id for s in segments}
        by_section: dict[str, list[NoteSentence]] = {sec.id: [] for sec in template.sections}
        kept_words: list[set[str]] = []
        for sent in self._sentences(segments):
            sec, cued = _route(sent, template)
            if sec is None:
                continue
            words = set(content_words(sent.text))
            if not cued and not sent.question and len(words) < self.params.min_content_words:
                continue
            if sec.max_sentences is not None and len(by_section[sec.id]) >= sec.max_sentences:
                continue
            if any(_jaccard(words, k) >= self.params.dedup_jaccard for k in kept_words):
                continue
            if sent.question or sent.role is Role.CLINICIAN:
                text = sent.text if sent.question else _finish(sent.text)
            else:
                text = f"{_LEADS[sent.role]} {_finish(sent.text)}"
            evidence = tuple(e for e in sent.evidence if e in valid_ids)
            if not evidence or not text.strip():
                continue
            kept_words.append(words)
            by_section[sec.id].append(NoteSentence(text=text, evidence=evidence))
        sections = tuple(
            NoteSection(
                id=sec.id,
                title=sec.title,
                sentences=tuple(by_section[sec.id]),
                loinc=sec.loinc,
                empty_text=sec.empty_text,
            )
            for sec in template.sections
        )
        logger.debug(
            "drafted %d sentences from %d segments with template %s",
            sum(len(v) for v in by_section.values()),
            len(segments),
            template.id,
        )
        return Note(
            template=template.id,
            title=template.title,
            loinc=template.loinc,
            sections=sections,
            status="preliminary",
        )


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
