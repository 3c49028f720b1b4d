"""The grounding check: which words of a note sentence were not said in its evidence.

A note sentence is grounded when every content word in it was said in the segments it
cites. Two allowances, both closed: the words restating adds (``ADDED_WORDS`` in
``scribe.notes.restate``: pronouns, "patient", auxiliaries, "denies", "endorses"), and
inflections of a word that was said ("takes" for "take", "goes" for "go"), judged by the
Porter stemmer (NLTK). Numbers must match as written ("1,000" and "1000" are one number).

Words are not the whole of meaning, so ``grounding_problems`` adds two checks a word
check cannot make: every number is one that was said, written the same way ("3.3", not
"3.3.3"), and a negation is never added: a sentence with "not", "no" or "denies" needs a
negation in what was said, "Denies" needs the answer it rests on (the last cited line) to
be a no, and "Endorses" needs it not to be one.

Used by the tests on every drafted note, and by any drafter that generates text (an LLM)
to refuse sentences that say what nobody said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from scribe.notes.restate import ADDED_WORDS

# Function words: never content, whatever the sentence (closed-class English words).
FUNCTION_WORDS = frozenset(
    """a an the and or but so if then than that this these those there here it its i me my
    mine you your yours we our us he she him her his they them their is am are was were be
    been being do does did done have has had having will would can could should shall may
    might must to of in on at by for with from about as into onto up down out over under
    just very not no nor yes yeah okay ok also too now still again any some all both each
    either neither what how when where why which who whom whose while because since until
    till before after per via""".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


def _tokens(text: str) -> list[str]:
    t = text.lower()
    t = re.sub(r"(\d),(\d{3})\b", r"\1\2", t)  # 1,000 -> 1000
    t = re.sub(r"n't\b", " not", t)
    t = re.sub(r"'(?:s|re|ve|ll|d|m)\b", "", t)
    return _TOKEN.findall(t)


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    return word if word.isdigit() else _stemmer().stem(word)


def content_stems(text: str) -> set[str]:
    """Stems of the content words of ``text`` (function words left out)."""
    return {stem(w) for w in _tokens(text) if w not in FUNCTION_WORDS}


def ungrounded_words(sentence: str, sources: Iterable[str], allowed: frozenset[str] = ADDED_WORDS) -> set[str]:
    """Content words of ``sentence`` said in none of ``sources`` (the cited segments'
    text), beyond ``allowed``. Empty set: the sentence is grounded."""
    said = set().union(*(content_stems(s) for s in sources)) if sources else set()
    out: set[str] = set()
    for w in _tokens(sentence):
        if w in FUNCTION_WORDS or w in allowed:
            continue
        if not any(stem(form) in said for form in _base_forms(w)):
            out.add(w)
    return out


def _base_forms(word: str) -> tuple[str, ...]:
    """``word`` and what it is an "-s" inflection of ("goes" -> "go", "tries" -> "try");
    the stemmer alone leaves "goes" as "goe"."""
    forms = [word]
    if len(word) > 3 and word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        forms.append(word[:-2])
    if len(word) > 2 and word.endswith("s"):
        forms.append(word[:-1])
    return tuple(forms)


_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_NEGATION = re.compile(r"\b(?:no|nope|nah|not|never|none|nothing|nobody|neither|nor|without|denies|deny|denied)\b|n't\b")


def _numbers(text: str) -> set[str]:
    return {re.sub(r"(?<=\d),(?=\d{3}\b)", "", n) for n in _NUMBER.findall(text)}


def grounding_problems(sentence: str, sources: Sequence[str], allowed: frozenset[str] = ADDED_WORDS) -> list[str]:
    """Why ``sentence`` is not grounded in ``sources`` (its cited lines, in order), as
    short reasons naming the words; an empty list when it is grounded.

    Checks: content words said (``ungrounded_words``); numbers said as written; no
    negation added; "Denies" resting on a no and "Endorses" on an answer that is not one
    (the last source is the answer).
    """
    problems: list[str] = []
    extra = ungrounded_words(sentence, sources, allowed)
    if extra:
        problems.append("words not said: " + ", ".join(sorted(extra)))
    said_numbers = set().union(*(_numbers(s) for s in sources)) if sources else set()
    unsaid = _numbers(sentence) - said_numbers
    if unsaid:
        problems.append("numbers not said: " + ", ".join(sorted(unsaid)))
    low = sentence.lower()
    said_negation = any(_NEGATION.search(s.lower()) for s in sources)
    if _NEGATION.search(low) and not said_negation:
        problems.append("negation not said")
    answer = sources[-1].lower() if sources else ""
    if re.match(r"\s*denies\b", low) and not _NEGATION.search(answer):
        problems.append("'Denies' without a no")
    if re.match(r"\s*endorses\b", low) and _NEGATION.search(answer):
        problems.append("'Endorses' on a no")
    return problems


# Spoken numbers and units, read as written ("fifteen milligrams" is "15 mg").
_UNITS = {
    "milligram": "mg", "milligrams": "mg", "mgs": "mg", "microgram": "mcg", "micrograms": "mcg",
    "gram": "g", "grams": "g", "milliliter": "ml", "milliliters": "ml", "millilitre": "ml",
    "millilitres": "ml", "kilogram": "kg", "kilograms": "kg", "pound": "lb", "pounds": "lb",
    "lbs": "lb", "percent": "%", "millimeter": "mm", "millimeters": "mm", "centimeter": "cm",
    "centimeters": "cm",
}
_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = re.compile(
    r"\b(?:(?:" + "|".join([*_TENS, *_ONES]) + r")(?:[ -](?:" + "|".join(_ONES) + r"))?"
    r"(?: hundred(?: (?:and )?(?:" + "|".join([*_TENS, *_ONES]) + r")(?:[ -](?:" + "|".join(_ONES) + r"))?)?)?"
    r"(?: thousand)?)\b"
)
_BP_HUNDREDS = re.compile(
    r"\b(one|two) ((?:" + "|".join(_TENS) + r"|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen)(?:[ -](?:" + "|".join(_ONES) + r"))?)(?= over\b)"
)

def _words_to_number(phrase: str) -> int:
    total, current = 0, 0
    for w in re.split(r"[ -]+", phrase):
        if w in _ONES:
            current += _ONES[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
    return total + current


def normalise_numbers(text: str) -> str:
    """Spoken numbers as digits and units as their abbreviations, lower case:
    "Fifteen milligrams, 1,000 Milligrams" -> "15 mg, 1000 mg". Adds no facts."""
    t = text.lower()
    t = re.sub(r"(\d),(\d{3})\b", r"\1\2", t)
    # A blood pressure is said "one thirty over eighty": 130/80.
    t = _BP_HUNDREDS.sub(lambda m: str(_words_to_number(m.group(1)) * 100 + _words_to_number(m.group(2))), t)
    t = _NUMBER_WORD.sub(lambda m: str(_words_to_number(m.group(0))), t)
    t = re.sub(r"\b(" + "|".join(_UNITS) + r")\b", lambda m: _UNITS[m.group(1)], t)
    # "120 over 80" as "120/80"
    return re.sub(r"\b(\d{2,3}) over (\d{2,3})\b", r"\1/\2", t)


def spoken_numbers(text: str) -> set[str]:
    """The numbers in ``text`` as digits, spoken or written ("one thirty over eighty" ->
    {"130", "80"})."""
    return set(re.findall(r"\d+(?:\.\d+)?", normalise_numbers(text)))
