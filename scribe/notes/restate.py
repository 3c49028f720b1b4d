"""Restate a spoken sentence the way a note is written, adding no facts.

What it does, and nothing more:

- drops disfluency and talk that carries no fact: fillers ("um", "you know"), stutters
  ("f- felt"), repeated words ("your, your"), leading discourse markers ("okay, so"),
  and the clinician's hedges ("I'm gonna go ahead and");
- moves speech about the speaker into the third person: the patient's "I have" becomes
  "She has", the clinician's "your knee" becomes "her knee";
- turns a yes/no exchange into a finding: "any fever?" / "no" -> "Denies fever.".

Every word it adds comes from ``ADDED_WORDS`` (pronouns, "patient", auxiliaries, "denies",
"reports") or is an inflection of a word that was said ("take" -> "takes"); the grounding
test (tests/test_drafting.py) checks every note sentence against the segments it cites
with exactly this allowance. Numbers, doses, units and drug names are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The closed set of words restating may add. Tests exempt exactly these.
ADDED_WORDS = frozenset(
    """he she they his her their him them himself herself themselves the patient patient's
    is are was were has have does do did not no denies endorses reports""".split()
)


@dataclass(frozen=True)
class Person:
    """How the note refers to the patient: subject, object, possessive, reflexive."""

    subject: str
    object: str
    possessive: str
    reflexive: str
    # The subject the first time a sentence names the patient ("the patient"), when it
    # differs from the pronoun used after that ("they").
    first_subject: str | None = None

    @property
    def plural(self) -> bool:
        return self.subject == "they"


HE = Person("he", "him", "his", "himself")
SHE = Person("she", "her", "her", "herself")
THEY = Person("they", "them", "their", "themselves")
# Sex not stated: "The patient has a cough ... they ..." rather than guessing.
PATIENT = Person("they", "them", "their", "themselves", first_subject="the patient")
_SINGULAR_THEY = Person("the patient", "them", "their", "themselves")

_STATED = re.compile(r"\byear[- ]old (male|man|gentleman|boy|female|woman|lady|girl)\b")
_TITLE_MALE = re.compile(r"\bmr\.?\s+[a-z]")
_TITLE_FEMALE = re.compile(r"\b(?:mrs|ms|miss)\.?\s+[a-z]")


def patient_person(clinician_text: str) -> Person:
    """He, she or they for the patient, from how the clinician described them.

    A stated "N-year-old male/female" decides; otherwise "the patient", then "they"
    (a clinician's "he" or "she" may be about someone else, so pronoun counts alone do
    not decide).
    """
    t = clinician_text.lower()
    # The first "N-year-old man/woman" said is the patient's (a clinician introduces the
    # patient before anyone else); a title ("Mrs. Garcia") decides when only one kind is
    # used.
    stated = _STATED.search(t)
    if stated:
        return SHE if stated.group(1) in ("female", "woman", "lady", "girl") else HE
    mr, mrs = bool(_TITLE_MALE.search(t)), bool(_TITLE_FEMALE.search(t))
    if mr and not mrs:
        return HE
    if mrs and not mr:
        return SHE
    return PATIENT


_FILLER = re.compile(
    r",?\s*(?<![\w'-])(?:um+|uh+|uhm|hmm+|mm-hmm|uh-huh|you know|i mean|kind of|sort of|"
    r"like i said|basically|literally|honestly|really|pretty|definitely|obviously|certainly)(?![\w'-]),?",
    re.IGNORECASE,
)
_STUTTER = re.compile(r"(?<![\w'-])[a-z]{1,3}-(?=\s)", re.IGNORECASE)
# A word or a phrase of up to three said again ("your, your", "trying to, trying to").
_REPEAT = re.compile(
    r"(?<![\w.'-])((?:\w+(?:'\w+)?\s+){0,2}\w+(?:'\w+)?)(?:\s*,?\s+\1(?![\w'-]|\.\d))+", re.IGNORECASE
)
_LEAD = re.compile(
    r"^(?:(?:(?:good morning|good afternoon|good evening|hi|hello|hey|"
    r"so|and|okay|ok|alright|all right|yeah|yes|oh|but|um|uh|anyway|also|then)\b[ ,.-]*)"
    # Words that are also laterality or findings ("right knee", "great toe", "well
    # controlled", "now"): stripped only when punctuated as an interjection ("Right, so").
    r"|(?:(?:right|well|now|great|good|perfect|got it|i see|sure|morning|afternoon)[,.!-]+\s*)"
    r"|(?:(?:right|well|now)\s+(?=(?:i|you|we|he|she|it|they|that|so|and|okay|um|uh|yeah|let's)\b)))+",
    re.IGNORECASE,
)
# The clinician's way into a plan or a finding, and the voice assistant's name; what
# follows is the fact.
_HEDGE = re.compile(
    r"\b(?:i'm going to|i am going to|i'm gonna|i'm gon na|i am gon na|we're going to|"
    r"we are going to|we're gonna|we're gon na|i want to|i wan na|i would like to|i'd like to|"
    r"let's|let me)\s+(?:go ahead and,?\s+|just\s+)?"
    r"|\bgo ahead and,?\s+"
    # Not "I think" / "it looks like" / "I suspect": a diagnosis stated with doubt keeps
    # its doubt.
    r"|\b(?:i remember|i know|i'm sorry|i do appreciate|i appreciate|i do see|i see|i do notice|"
    r"i notice|i do hear|i hear|i do feel)(?:\s+that)?,?\s+"
    r"|\b(?:hey,?\s+)?(?:dragon|dax)\b,?\s*"
    # "I'd recommend rest" -> "recommend rest"; "we'll order an x-ray" -> "order an x-ray".
    r"|\b(?:i'd|i would|i|we'd|we would|we|i'll|i will|we'll|we will|we can|i can)\s+"
    r"(?=(?:recommend|suggest|order|start|prescribe|refer|schedule|check|send|continue|increase|"
    r"decrease|stop|discontinue|repeat|obtain|get you|see you|follow up|switch|add|give you)\b)",
    re.IGNORECASE,
)

_YES = re.compile(r"^(?:yes|yeah|yep|yup|uh-huh|mm-hmm|correct|i do|i did|i have|i am|sometimes|a little|a bit|definitely|absolutely)\b", re.IGNORECASE)
_NO = re.compile(
    r"^(?:no|nope|nah|not really|not at all|never|none|i don't|i do not|i haven't|i have not|i didn't|"
    r"i did not|not that i|i'm not|i am not|(?:absolutely|definitely|certainly|of course|surely) not)\b",
    re.IGNORECASE,
)
# An answer that is not a plain yes or no: unsure, partial, or mixed ("no fever, but
# chills"). Read as neither, so no "Denies"/"Endorses" is written from it.
_UNCLEAR = re.compile(
    r"\b(?:not sure|don't know|do not know|dunno|maybe|might|i think so|i guess|kind of|sort of|"
    r"but|except|although|though|only|not much|hard to say|i don't think so|i do not think so)\b",
    re.IGNORECASE,
)
_Q_LEAD = re.compile(
    # Longest first: "do you have" before "do you".
    r"^(?:(?:"
    r"any other symptoms like|have you experienced|have you noticed|are you having|"
    r"did you notice|has there been|are you still|have you been|symptoms like|"
    r"did you have|experiencing|have you had|any kind of|any sort of|been having|"
    r"do you have|what about|any other|how about|was there|have you|is there|"
    r"were you|are you|did you|feeling|getting|had any|had you|noticed|do you|"
    r"having|how is|notice|how's|other|still|been|ever|feel|have|like|okay|were|and|"
    r"any|are|did|get|had|has|was|do|is|no|or|so"
    r")\b[ ,]*)+",
    re.IGNORECASE,
)


def tidy(text: str) -> str:
    """Disfluency and filler removed, spacing and punctuation repaired; words only go."""
    t = re.sub(r"\s+([,.?!;:])", r"\1", " ".join(text.split()))
    t = _STUTTER.sub(" ", t)
    t = _FILLER.sub(" ", t)
    t = re.sub(r"\s*\.\.\.\s*", " ", t)
    t = _REPEAT.sub(r"\1", t)
    t = re.sub(r"\s+([,.?!;:])", r"\1", t)
    t = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", t)
    t = re.sub(r"\s{2,}", " ", t).strip(" ,;:")
    t = _LEAD.sub("", t).strip(" ,;:")
    return t


def finish(text: str) -> str:
    """Capital first letter, one full stop, "i" as "I"; empty stays empty."""
    t = re.sub(r"\s{2,}", " ", text).strip(" ,;:")
    t = re.sub(r"[,;:]\s*([.?!])$", r"\1", t)
    if not t:
        return t
    t = re.sub(r"\bi\b", "I", t)
    t = t[0].upper() + t[1:]
    if t[-1] not in ".?!":
        t += "."
    return t


# Verbs after "I"/"you" that change with a third-person singular subject.
_SINGULAR = {
    "am": "is", "'m": "is", "are": "is", "'re": "is", "have": "has", "'ve": "has",
    "do": "does", "don't": "doesn't", "haven't": "hasn't", "aren't": "isn't", "were": "was",
    "weren't": "wasn't", "'d": "would", "'ll": "will",
}
_PLURAL = {"am": "are", "'m": "are", "'re": "are", "'ve": "have", "was": "were", "wasn't": "weren't", "'d": "would", "'ll": "will"}
_MODAL = frozenset(
    """can could will would should might may must did didn't had was wasn't can't couldn't
    won't wouldn't shouldn't hadn't cannot""".split()
)
_ADVERB = frozenset(
    """also really just still usually never always sometimes only actually definitely
    already even probably often recently mostly normally generally certainly kind sort
    typically occasionally ever""".split()
)
# Irregular past forms (no "-s" to add). Common ones in visit speech.
_IRREGULAR_PAST = frozenset(
    """took felt went got had saw came gave made said thought told knew fell broke ate drank
    ran began became left kept slept found bought brought put quit cut hit lost paid sat
    stood wore woke heard meant read threw caught held led let set shut spent sent stuck
    tore won wrote rode drove flew forgot hurt""".split()
)
# A "you" right after one of these is an object ("refer you", "for you"); anywhere else a
# clinician's "you" starts a clause. Prepositions and the verbs clinicians use with the
# patient as object, read off ACI-BENCH train dialogues.
_TAKES_OBJECT = frozenset(
    """to for with at on of about from by into against around after before toward towards
    give gave tell told send sent see saw refer referred put place placed get got help let ask call show thank
    check examine swab start keep need want like bring take took love hear heard meet met
    bother bothering hurt hurting prescribe prescribed treat treated follow schedule
    contact discharge admit remind wake switch switched change changed move moved keep
    kept giving sending telling seeing had make made""".split()
)


# Words after an object "you" ("switch you to", "see you in", "get you a"): prepositions,
# particles and determiners, which never follow a subject "you".
_FOLLOWS_OBJECT = frozenset(
    """to on off with for a an the back in up out over into some this that these those
    at from about today tomorrow again now here there down through started""".split()
)
_INVERTED = frozenset("are were do did have has is was can could will would should does".split())


def _third_person_verb(verb: str) -> str:
    v = verb.lower()
    # "-ed" is a past form, "-eed" is not ("need", "bleed").
    if v in _IRREGULAR_PAST or (v.endswith("ed") and not v.endswith("eed")) or v in _MODAL or not v.isalpha() or len(v) < 2:
        return verb
    if v.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if v.endswith("y") and v[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


_NOT_A_VERB = frozenset(
    """because and but so if when that the a an to in on for with all both guys too or as
    than then while since until about at by from of yeah yes no um uh okay well like
    just oh""".split()
)


def _agree(word: str, person: Person) -> str:
    """The verb right after a converted subject, made to agree with it."""
    low = word.lower()
    if low in _NOT_A_VERB:
        return word
    if person.plural:
        return _PLURAL.get(low, word)
    if low in _SINGULAR:
        return _SINGULAR[low]
    if low in _MODAL:
        return word
    return _third_person_verb(word)


_SPLIT = re.compile(r"^([\"(]*)(.*?)([.,?!;:\")]*)$")


def to_third_person(text: str, person: Person, *, speaker_is_patient: bool) -> str:
    """The patient's first person ("I", "my") or the clinician's second person ("you",
    "your") as the note's third person, with the verb after a converted subject made to
    agree ("I have" -> "she has", "you take" -> "he takes"). Other pronouns are left.

    ``speaker_is_patient`` picks which of the two to convert: a patient's "you" is the
    clinician, a clinician's "I" is the clinician.
    """
    if speaker_is_patient:
        subj, poss, obj, refl = {"i"}, {"my"}, {"me"}, {"myself"}
        contracted = {"i'm": "'m", "i've": "'ve", "i'd": "'d", "i'll": "'ll"}
    else:
        subj, poss, obj, refl = {"you"}, {"your"}, set(), {"yourself"}
        contracted = {"you're": "'re", "you've": "'ve", "you'd": "'d", "you'll": "'ll"}
    out: list[str] = []
    agree_next = False
    prev = ""
    named = False  # has the sentence named the patient yet
    current = person  # the form of the last subject written, for agreement
    words = text.split()
    for k, w in enumerate(words):
        m = _SPLIT.match(w)
        pre, core, post = m.group(1), m.group(2), m.group(3)
        low = core.lower()
        if agree_next and core:
            if low in _ADVERB or low.endswith("ly"):
                out.append(w)  # "I really like" -> the verb is still to come
                prev = low
                continue
            agree_next = False
            out.append(pre + _agree(core, current) + post)
            prev = low
            continue
        nxt = _SPLIT.match(words[k + 1]).group(2).lower() if k + 1 < len(words) else ""
        object_you = (
            low == "you"
            and bool(out)
            and not out[-1].endswith((",", ".", ";", ":"))
            and (prev in _TAKES_OBJECT or nxt in _FOLLOWS_OBJECT or not nxt)
        )
        if low in subj and not object_you:
            core, current = _subject(person, named)
            named = True
            # After an inverted auxiliary ("were you having") the verb is already right.
            agree_next = not post and prev not in _INVERTED
        elif low == "you" and not speaker_is_patient:
            core = person.object
        elif low in contracted:
            subject, current = _subject(person, named)
            named = True
            core = f"{subject} {_agree(contracted[low], current)}"
        elif low in poss:
            core = person.possessive
        elif low in obj:
            core = person.object
        elif low in refl:
            core = person.reflexive
        out.append(pre + core + post)
        prev = low
    return " ".join(out)


def _subject(person: Person, named: bool) -> tuple[str, Person]:
    """The subject to write and the person its verb agrees with."""
    if person.first_subject and not named:
        return person.first_subject, _SINGULAR_THEY
    return person.subject, person


def strip_hedges(text: str) -> str:
    """The clinician's lead-in to a plan ("I'm gonna go ahead and order") without the
    lead-in ("order ...")."""
    return _HEDGE.sub("", text)


def answer_polarity(answer: str) -> bool | None:
    """True for a yes, False for a no, None for anything longer or unclear."""
    a = answer.strip().lower()
    a = re.sub(r"^(?:(?:so|and|okay|ok|well|oh|um|uh)\b[ ,.-]*)+", "", a).strip(" ,.")
    if _UNCLEAR.search(a):
        return None
    if _NO.match(a):
        return False
    if _YES.match(a):
        # "absolutely not", "yes, no fever": a negation after the yes-word is not a yes.
        return None if re.search(r"\b(?:not|no|never)\b|n't\b", a[3:]) else True
    return None


_SYMPTOM_Q = re.compile(
    r"^(?:(?:and|so|okay|now|or|also|um|uh)[ ,]+)*(?:any|do you have|have you had|have you (?:noticed|experienced|been having|felt)|"
    r"are you having|are you experiencing|did you have|did you (?:notice|experience|feel)|is there any|"
    r"has there been any|no)\b",
    re.IGNORECASE,
)


def negated_question(question: str) -> bool:
    """A question asked in the negative ("no fever?", "no chest pain?"): only a "no"
    answer reads unambiguously (as a denial)."""
    q = re.split(r"[.!?]\s+", tidy(question).rstrip("?. "))[-1].strip().lower()
    return q.startswith("no ")


def answer_items(answer: str) -> str:
    """What a short answer names after its yes or no ("No fever." -> "fever"; "No." ->
    ""), so a partial answer denies only what it names."""
    a = re.sub(r"^(?:(?:so|and|okay|ok|well|oh|um|uh)\b[ ,.-]*)+", "", answer.strip().lower()).strip(" ,.!")
    a = re.sub(
        r"^(?:(?:(?:absolutely|definitely|certainly|of course) not|not really|not at all|no|nope|nah|never|"
        r"none|yes|yeah|yep|yup|correct|i do|i did|i have|i don't|i haven't|i didn't)\b[ ,.!]*)+",
        "",
        a,
    )
    # How often or how much is not an item: "I do, sometimes." names nothing.
    a = re.sub(r"\b(?:sometimes|occasionally|often|usually|mostly|a little|a bit|lately|recently|still|too|also|though)\b", "", a)
    return a.strip(" ,.!")


def question_topic(question: str) -> tuple[str, bool]:
    """What a yes/no question asks about, and whether it asks about a symptom or finding
    ("any fever or chills?" -> ("fever or chills", True); "you're avoiding salt?" ->
    ("you're avoiding salt", False))."""
    q = tidy(question).rstrip("?. ")
    # Of several clauses, the question is the last one ("okay. any fever?").
    q = re.split(r"[.!?]\s+", q)[-1].strip()
    symptom = bool(_SYMPTOM_Q.match(q))
    if symptom:
        q = _Q_LEAD.sub("", q).strip(" ,")
    return q, symptom
