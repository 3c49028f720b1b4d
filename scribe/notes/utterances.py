"""Transcript segments into sentences a note can be built from, each with its evidence.

A speech recogniser cuts lines where the speaker paused, not where a sentence ends, so a
drug is easily parted from its dose ("increase metformin to." / "1000 milligrams twice a
day."), and a clinician's sentence is often interrupted by the patient's "mm-hmm". This
module joins each speaker's consecutive segments (stepping over the other speaker's
backchannels), splits the joined text at sentence ends, and glues back a piece that
cannot stand alone (one ending on "to", one starting with a number and unit). A period
the recogniser put at a pause inside a sentence is taken back when the line ends on a word
no sentence ends with ("...wear and tear, and not." | "A tear of the ligaments.") or the
next line starts in lower case, so a pause never cuts a note sentence or parts a negation
from what it denies. Every sentence keeps the ids of the segments its characters came from.

Pure functions: typed segments in, ``Utterance`` tuples out; nothing is logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from scribe.speakers.turns import is_marker
from scribe.types import Role, Segment

# A reply that only keeps the floor for the other speaker ("mm-hmm", "okay"): stepped over
# when joining a speaker's sentence that it interrupted. Read off ACI-BENCH train dialogues.
_BACKCHANNEL = re.compile(
    r"^(?:mm-hmm|mhm|uh-huh|hmm|mm|okay|ok|yeah|yes|yep|right|sure|alright|all right|"
    r"uh|um|oh|got it|i see|good|great)[ .,!?-]*$"
)
# A piece ending on one of these words was cut mid-phrase ("and not" / "but not": a
# contrast whose other half comes after the pause, "...wear and tear, and not" | "a tear
# of the ligaments").
_DANGLING_END = re.compile(
    r"\b(?:to|into|with|of|for|on|in|at|about|and|or|but|the|a|an|my|your|his|her|their|"
    r"is|are|was|were|be|been|because|than|like|from|by|some|any|that|which|(?:and|but) not)\s*[.?!]?$"
)
# Words that never end a spoken sentence: a line ending on one, even with a period and
# followed by a capital, was ended by the recogniser at a pause. (Prepositions can end
# one, "what are you worried about.", so they are not here.)
_CANNOT_END = re.compile(r"(?:\b(?:and|or|but|because|than|the|a|an|my|your|his|her|their)|,)\s*\.$|\b(?:and|but) not\s*\.$", re.IGNORECASE)
# First words a recogniser capitalised only because a new line began after a pause.
_LOWER_AFTER_BREAK = re.compile(
    r"^(?:A|An|The|And|Or|But|Of|To|In|On|At|For|With|From|By|My|Your|His|Her|Their|It|This|That|These|Those|Not|No)\b(?![.'])"
)
# A piece starting with a number, a unit or a connector continues the one before.
_CONTINUATION_START = re.compile(
    r"^(?:\d|(?:milligrams?|mg|micrograms?|units?|times|twice|once|percent|and|or|but|"
    r"because|which|per|a day|daily)\b)",
    re.IGNORECASE,
)
# A sentence ends at . ? ! followed by space, except after a title or abbreviation.
_SENTENCE_END = re.compile(r"(?<!\bDr\.)(?<!\bdr\.)(?<!\bMr\.)(?<!\bmr\.)(?<!\bMs\.)(?<!\bms\.)(?<!\bMrs\.)(?<!\bmrs\.)(?<!\bvs\.)(?<!\bSt\.)(?<=[.?!])\s+")
# Unpunctuated speech (some recognisers, ACI-BENCH's "aci" subset) runs whole turns
# together. A run longer than MAX_UNPUNCTUATED words is cut where speakers start a new
# thought: a discourse marker, or a question word opening a clause. Markers read off
# ACI-BENCH train dialogues.
MAX_UNPUNCTUATED = 18
_NEW_THOUGHT = re.compile(
    r"\s+(?=(?:okay|ok|alright|all right|so|now|and then|um|uh|well|also|but|yeah|anyway|"
    r"what|how|when|where|why|do you|did you|are you|have you|has it|is it|is there|can you|"
    r"any other|let's|let me|i'm gon na|i'm going to|i want you to|i'd like to|we're gon na|"
    r"we're going to|i think|it looks like|your|on exam|on physical exam|in terms of|"
    r"for your|regarding|as far as)\b)"
)
_QUESTION = re.compile(r"\?\s*$")
# Unpunctuated speech has no "?": a sentence opening like a question is one.
_QUESTION_START = re.compile(
    r"^(?:(?:so|and|okay|ok|alright|all right|now|um|uh|well|but|and then)[ ,]+)*"
    r"(?:(?:do|did|does|have|has|are|were|is|was|can|could|would|will|should) (?:you|it|they|he|she|there|your|anyone|anybody)|"
    r"how|what|when|where|why|which|who|any)\b",
    re.IGNORECASE,
)


# A question to the listener inside a sentence a recogniser ended with "." ("Good
# morning, I'm Dr. Patel, what brings you in today.").
_ASKS_YOU = re.compile(
    r"\b(?:what|how|when|where|why|which) (?:brings|brought|is|are|do|did|does|can|could|would|have|has) you\b",
    re.IGNORECASE,
)


# Openings that make a question even when a recogniser ended it with "." ("Any swelling
# or feeling like the knee gives way.").
_ALWAYS_ASKS = re.compile(
    r"^(?:(?:so|and|okay|ok|alright|all right|now|um|uh|well|but)[ ,]+)*"
    r"(?:any|do you|did you|are you|have you|is there|was there|can you|could you|would you|"
    r"does it|did it|is it|has it)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Utterance:
    """One sentence as said, with who said it and where.

    ``text`` is the raw sentence (spacing repaired, nothing else changed); ``evidence``
    the ids of the segments it spans, in order; ``turn`` the index of the speaker run it
    belongs to (0-based, over the whole transcript); ``position`` its start time divided
    by the transcript's last end time (0..1).
    """

    text: str
    role: Role
    speaker: str | None
    evidence: tuple[str, ...]
    turn: int
    position: float

    @property
    def is_question(self) -> bool:
        """Ends with "?", or, when it has no sentence end at all (unpunctuated speech),
        opens like a question ("do you", "any", "how")."""
        t = self.text.strip()
        if _QUESTION.search(t) or _ASKS_YOU.search(t) or _ALWAYS_ASKS.match(t):
            return True
        return not re.search(r"[.!]$", t) and bool(_QUESTION_START.match(t))


def repair_spacing(text: str) -> str:
    """Join tokens a tokeniser or recogniser spaced apart ("7 .8 %" -> "7.8%",
    "follow -up" -> "follow-up", "do n't" -> "don't", "2 -3" -> "2-3"). Adds no words."""
    t = " ".join(text.split())
    t = re.sub(r"(\d)\s*\.\s+(\d)", r"\1.\2", t)
    t = re.sub(r"(\d) \.(\d)", r"\1.\2", t)
    t = re.sub(r"(\w) -(\w)", r"\1-\2", t)
    t = re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", t)
    t = re.sub(r"\s+([,.?!;:%])", r"\1", t)
    t = re.sub(r"\$\s+(\d)", r"$\1", t)
    return t.strip()


def _cut_unpunctuated(sentence: str) -> list[str]:
    """A long unpunctuated sentence, cut at new-thought markers into pieces of at least
    4 words; a short one is returned whole."""
    if len(sentence.split()) <= MAX_UNPUNCTUATED:
        return [sentence]
    out: list[str] = []
    for chunk in _NEW_THOUGHT.split(sentence):
        chunk = chunk.strip()
        if not chunk:
            continue
        if out and len(out[-1].split()) < 4:
            out[-1] = f"{out[-1]} {chunk}"
        else:
            out.append(chunk)
    return out


def _is_backchannel(text: str) -> bool:
    return bool(_BACKCHANNEL.match(text.strip().lower()))


def _unfinished(text: str, following: str) -> bool:
    """Whether ``text`` was cut mid-sentence: no sentence end, a dangling last word
    ("...metformin to."), or ``following`` continues it ("1000 milligrams...")."""
    t = repair_spacing(text).strip()
    return (
        not re.search(r"[.?!]$", t)
        or bool(_DANGLING_END.search(t))
        or bool(_CONTINUATION_START.match(repair_spacing(following)))
    )


def _continues_across_break(before: str, line: str, first: str) -> bool:
    """Whether ``line`` goes on with the sentence that ``before`` (the run's text so far,
    ending with a recogniser's period) seemed to end, at a segment break: a pause. Yes
    when ``before`` ends on a word no sentence ends with ("and", "the", "and not"), or
    when ``line`` starts in lower case although the recogniser capitalises sentence
    starts (``first``, the run's first line, starts with a capital): a recogniser that
    writes every line in lower case (ACI-BENCH's dialogues) gives no such hint."""
    if not before.endswith(".") or before.endswith(".."):
        return False
    if _CANNOT_END.search(before):
        return True
    return bool(re.match(r"[a-z]", line)) and not line.startswith("i ") and first[:1].isupper()


def _runs(segments: Sequence[Segment]) -> list[list[Segment]]:
    """Each speaker's consecutive segments, stepping over another speaker's backchannel
    when the interrupted speaker resumes right after it."""
    runs: list[list[Segment]] = []
    i = 0
    n = len(segments)
    while i < n:
        run = [segments[i]]
        j = i + 1
        while j < n:
            seg = segments[j]
            if seg.speaker == run[-1].speaker:
                run.append(seg)
                j += 1
                continue
            # "lumbar spine-" / "mm-hmm" / "at the level of l5": the clinician goes on.
            if (
                _is_backchannel(seg.text)
                and j + 1 < n
                and segments[j + 1].speaker == run[-1].speaker
                and _unfinished(run[-1].text, segments[j + 1].text)
            ):
                j += 1
                continue
            break
        runs.append(run)
        i = j
    return runs


def _pieces(run: list[Segment]) -> list[tuple[str, tuple[str, ...]]]:
    """Sentences of one run with the segment ids each one's characters came from."""
    text = ""
    spans: list[tuple[int, int, str]] = []
    run_first = ""
    for seg in run:
        t = repair_spacing(seg.text).rstrip("-").strip()
        if not t:
            continue
        run_first = run_first or t
        if text:
            if _continues_across_break(text, t, first=run_first):
                # The recogniser ended the line at a pause inside the sentence: its
                # period goes, and a capital it gave the next line's function word.
                text = text[:-1].rstrip()
                a, b, sid = spans[-1]
                spans[-1] = (a, min(b, len(text)), sid)
                if _LOWER_AFTER_BREAK.match(t):
                    t = t[0].lower() + t[1:]
            # A line that starts with a capital (not "I") after one without a sentence
            # end starts a new sentence: transcript files put one turn a line, and
            # recognisers capitalise only sentence starts.
            elif (
                not re.search(r"[.?!]$", text)
                and re.match(r"[A-Z](?![a-z]*'|\b)", t)
                and not t.startswith("I ")
                and not _DANGLING_END.search(text)  # "started me on" | "Eliquis 5 mg"
            ):
                text += "."
            text += " "
        spans.append((len(text), len(text) + len(t), seg.id))
        text += t
    out: list[tuple[str, tuple[str, ...]]] = []
    pos = 0
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        # Only a sentence transcribed without any punctuation is cut at markers; a
        # punctuated one is the recogniser's (or the writer's) own.
        parts.extend([sentence] if re.search(r"[,.?!;:]", sentence) else _cut_unpunctuated(sentence))
    for part in parts:
        start = text.find(part, pos)
        end = start + len(part)
        pos = end
        ids = tuple(sid for a, b, sid in spans if a < end and b > start)
        if part.strip(" .,"):
            out.append((part.strip(), ids))
    # Glue pieces that cannot stand alone back onto their neighbour.
    glued: list[tuple[str, tuple[str, ...]]] = []
    for part, ids in out:
        cut_mid_phrase = _DANGLING_END.search(glued[-1][0]) and not part[:1].isupper() if glued else False
        if glued and (cut_mid_phrase or _CONTINUATION_START.match(part)):
            prev, prev_ids = glued[-1]
            if re.match(r"(?:And|Or|But|Because|Which)\b", part):
                part = part[0].lower() + part[1:]  # a line break, not a new sentence
            joined = re.sub(r"[.]\s*$", "", prev) + " " + part
            glued[-1] = (joined, prev_ids + tuple(i for i in ids if i not in prev_ids))
        else:
            glued.append((part, ids))
    return glued


def utterances(segments: Sequence[Segment]) -> list[Utterance]:
    """The transcript as sentences, in spoken order.

    Parameters
    ----------
    segments : sequence of Segment
        In time order, with speakers and roles (``Role.UNKNOWN`` is kept as is).

    Returns
    -------
    list of Utterance
        Backchannel-only segments are dropped when they sit inside another speaker's
        sentence; ``[overlap]`` markers (speech without recognised words,
        ``scribe.speakers.turns.OVERLAP_MARKER``) have nothing to draft from and are
        skipped; every other segment's words are in exactly one utterance.
    """
    segments = [s for s in segments if not is_marker(s)]
    if not segments:
        return []
    last = max(s.end for s in segments) or 1.0
    out: list[Utterance] = []
    for k, run in enumerate(_runs(segments)):
        head = run[0]
        for text, ids in _pieces(run):
            start = next((s.start for s in run if s.id == ids[0]), head.start) if ids else head.start
            out.append(
                Utterance(
                    text=text,
                    role=head.role,
                    speaker=head.speaker,
                    evidence=ids or (head.id,),
                    turn=k,
                    position=min(1.0, max(0.0, start / last)),
                )
            )
    return out
