"""Omission check: the clinically salient facts said in the visit that the note does
not carry, listed for the clinician to review before signing.

Facts found in the transcript, by kind (``scribe.types.OMISSION_KINDS``):

- ``medication``: a drug name, from the bundled list ``data/medications.txt`` (common
  generic and brand names in primary care) or a generic-name stem such as "-pril",
  "-statin", "-olol"; with its dose when one follows ("metformin 1000 milligrams").
- ``number``: a number with a clinical unit ("15 milligrams", "5 pounds", "7.8 percent",
  "120 over 80").
- ``allergy``: what follows "allergic to" / "allergy to".
- ``follow-up``: a return interval ("follow up in two weeks", "come back in 3 months").
- ``symptom``: a symptom from the bundled list ``data/symptoms.txt``.

A fact is carried when its key words (the drug name, the number, the symptom, the
interval) appear in the note's sentences. Lists are data, not code: a clinic can extend
them. The check reads words, not meaning: a drug the note names once is carried even if
a second dose of it was left out, so the list is a prompt to look, not a proof.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

from scribe.notes.grounding import content_stems, spoken_numbers
from scribe.notes.utterances import repair_spacing
from scribe.types import Note, Omission, Segment, Transcript

_NOTHING = frozenset({"anything", "nothing", "any", "none"})
# Words the generic-name stems catch that are not drugs.
_NOT_DRUGS = frozenset({"cholesterol", "examine", "determine", "famine", "routine", "medicine", "uterine", "urine", "feminine", "vaccine", "caffeine"})

# Generic-name stems (USAN stems, https://www.ama-assn.org/about/united-states-adopted-names).
_DRUG_STEM = re.compile(
    r"\b[a-z]{3,}(?:pril|sartan|olol|statin|formin|gliptin|gliflozin|glutide|prazole|tidine|"
    r"cillin|mycin|floxacin|cycline|conazole|vir|mab|tinib|azepam|zolam|oxetine|triptyline|"
    r"dipine|sone|olone|thiazide|semide|parin|xaban|gatran|terol|profen|coxib|dronate|lukast|"
    r"setron|tadine|pramine|peridol|apine|idone|zodone|amine|caine|triptan)\b"
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|a hundred|a thousand)"
)
_NUM = rf"(?:\d+(?:[.,]\d+)*|{_NUMBER_WORD}(?:[ -]{_NUMBER_WORD})*)"
_UNIT = (
    r"(?:mg|milligrams?|mcg|micrograms?|g|grams?|ml|milliliters?|cc|units?|percent|%|"
    r"pounds?|lbs?|kilograms?|kg|degrees?|beats|bpm|mmhg|tablets?|pills?|puffs?|"
    r"times a day|times a week|cigarettes?|packs?|drinks?)"
)
_NUMBER_FACT = re.compile(rf"\b({_NUM})\s*({_UNIT})(?![a-z])|\b(\d{{2,3}}) over (\d{{2,3}})\b")
_ALLERGY = re.compile(r"\ballerg(?:ic|y|ies) to ([a-z][a-z -]{2,30}?)(?=[.,;!?]| and | but |$)")
# "in two weeks" after the verb, or (terse dictation, "Return two weeks.") right after it.
_FOLLOW_UP = re.compile(
    rf"\b(?:follow up|follow-up|come back|see you|return|recheck|check back)\b(?:[^.?!]{{0,30}}?\bin|)"
    rf" (?:about |another |a )?((?:{_NUM}|a couple(?: of)?|a few|a|one)\s*(?:days?|weeks?|months?|years?))"
)


@lru_cache(maxsize=1)
def _lexicon(name: str) -> tuple[str, ...]:
    text = resources.files("scribe.notes").joinpath("data", name).read_text(encoding="utf-8")
    words = [ln.split("#")[0].strip().lower() for ln in text.splitlines()]
    # Longest first, so "chest pain" is found before "pain".
    return tuple(sorted({w for w in words if w}, key=lambda w: (-len(w), w)))


@lru_cache(maxsize=4)
def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in _lexicon(name)) + r")\b")


def _norm(text: str) -> str:
    # Spacing repaired as the drafter repairs it, thousands commas dropped ("1,000").
    return re.sub(r"(\d),(\d{3})\b", r"\1\2", repair_spacing(text).lower())


def mentions_medication(text: str) -> bool:
    """Whether ``text`` names a drug from the bundled list or by a generic-name stem."""
    t = text.lower()
    return bool(_pattern("medications.txt").search(t) or _DRUG_STEM.search(t))


# Disease-name endings (-itis, -osis, -emia, -opathy, -algia) name a diagnosis without
# being listed in ``data/diagnoses.txt``; the words below end so but are not one.
_DX_SUFFIX = re.compile(r"\b[a-z]{3,}(?:itis|osis|emia|opathy|algia)\b")
_NOT_DIAGNOSES = frozenset({"diagnosis", "prognosis", "hypnosis", "academia"})


def names_diagnosis(text: str) -> bool:
    """Whether ``text`` names a diagnosis: one of the bundled list
    (``data/diagnoses.txt``: "pneumonia", "ear infection", "sciatica") or a word with a
    disease-name ending ("pharyngitis", "diverticulosis", "neuropathy")."""
    t = _norm(text)
    if _pattern("diagnoses.txt").search(t):
        return True
    return any(m.group(0) not in _NOT_DIAGNOSES for m in _DX_SUFFIX.finditer(t))


def symptoms_named(text: str) -> tuple[str, ...]:
    """The symptoms of the bundled list (``data/symptoms.txt``) ``text`` names, longest
    match first ("chest pain", not "pain"), in order."""
    return tuple(m.group(1) for m in _pattern("symptoms.txt").finditer(_norm(text)))


def salient_facts(segments: Sequence[Segment]) -> list[Omission]:
    """Every salient fact said, once per (kind, key), with the segments it was said in.

    Returns ``Omission`` records (kind, the words as said, evidence ids) in first-said
    order; ``find_omissions`` keeps the ones the note does not carry.
    """
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def add(kind: str, key: str, text: str, seg: Segment) -> None:
        k = (kind, key)
        if k in found:
            if seg.id not in found[k][1]:
                found[k][1].append(seg.id)
        else:
            found[k] = (text, [seg.id])

    meds = _pattern("medications.txt")
    symptoms = _pattern("symptoms.txt")
    for seg in segments:
        t = _norm(seg.text)
        names = {m.group(1) for m in meds.finditer(t)} | {
            m.group(0) for m in _DRUG_STEM.finditer(t) if m.group(0) not in _NOT_DRUGS
        }
        # A drug the patient is allergic to is an allergy, not a medication they take.
        names -= {m.group(1).strip() for m in _ALLERGY.finditer(t)}
        doses: set[str] = set()
        for name in sorted(names):
            dose = re.search(rf"\b{re.escape(name)}\b[^.?!]{{0,20}}?\b({_NUM}\s*{_UNIT})", t)
            if dose:
                doses.add(dose.group(1))
            add("medication", name, f"{name} {dose.group(1)}" if dose else name, seg)
        for m in _NUMBER_FACT.finditer(t):
            if m.group(3):
                add("number", f"{m.group(3)} over {m.group(4)}", m.group(0), seg)
            elif m.group(0) not in doses:  # a drug's dose is checked with its drug
                add("number", m.group(1), m.group(0), seg)
        for m in _ALLERGY.finditer(t) if not t.rstrip().endswith("?") else ():
            # (an allergy asked about in a question is not one the patient has)
            what = m.group(1).strip()
            before = t[max(0, m.start() - 12) : m.start()]
            # "not allergic to anything" / "no allergies": nothing to carry as an allergy.
            if re.search(r"\b(?:not|no|n't|never)\b", before) or what.split()[0] in _NOTHING:
                continue
            add("allergy", what, what, seg)
        for m in _FOLLOW_UP.finditer(t):
            add("follow-up", m.group(1), m.group(1), seg)
        for m in symptoms.finditer(t):
            add("symptom", m.group(1), m.group(1), seg)
    return [Omission(kind=k, text=text, evidence=tuple(ids)) for (k, _), (text, ids) in found.items()]


def _carried(fact: Omission, note_text: str) -> bool:
    key = _norm(fact.text)
    # Numbers compare as digits, spoken or written: "fifteen milligrams" is carried by
    # "15 mg" (a model drafter writes the digits).
    if fact.kind == "number":
        return spoken_numbers(key) <= spoken_numbers(note_text)
    if fact.kind == "medication":
        name, _, dose = key.partition(" ")
        if not re.search(rf"\b{re.escape(name)}\b", note_text):
            return False
        return spoken_numbers(dose) <= spoken_numbers(note_text)
    # A symptom, an allergy, an interval: every content word of it, by its stem
    # ("vomited" carries "vomiting", "headache" carries "headaches").
    return content_stems(key) <= content_stems(note_text)


def find_omissions(transcript: Transcript, note: Note) -> tuple[Omission, ...]:
    """Salient facts of ``transcript`` that no sentence of ``note`` carries.

    Parameters
    ----------
    transcript : Transcript
        The visit as said (any roles).
    note : Note
        The draft; only its section sentences count (the patient instructions restate
        the plan for the patient, not for the record).

    Returns
    -------
    tuple of Omission
        In first-said order; empty when the note carries every fact found or the
        transcript is empty.
    """
    if not transcript.segments:
        return ()
    text = _norm(" ".join(s.text for s in note.sentences()))
    return tuple(f for f in salient_facts(transcript.segments) if not _carried(f, text))
