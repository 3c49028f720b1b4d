"""Who is the clinician and who the patient, judged from what each speaker says.

Voices tell the diarizer speakers apart but not who they are; the words do. Clinicians
examine ("take a deep breath"), report findings and results ("your lungs sound clear",
"the x-ray shows"), diagnose ("this is most likely"), prescribe and instruct ("take one
tablet twice a day", "I'm going to start you on"), plan ("we'll recheck in two weeks"),
dictate ("presents with") and ask questions addressed to the listener ("do you smoke",
"any fever"). Patients describe themselves ("I've been", "my knee", "it hurts") and ask
about their own illness and treatment ("is it serious", "should I take it with food"). A
relative or interpreter speaks about the patient in the third person ("she", "my son").

Who asks the questions does not decide the roles (issue 14): a question counts for the
clinician only when it is addressed to the listener, a question about the asker's own
illness or treatment counts for the patient, and what only a clinician says (prescribing
and dosing, exam findings, results, diagnoses, orders and the plan: ``CLINICIAN_CONTENT``)
weighs most.

Decision rules (documented here because they are policy, not tuning):

- Roles already known (``known`` / ``Transcript.speakers``, e.g. a speaker matched to an
  enrolled clinician's voice) are kept as given. The words then fill the roles still open
  from the other speakers: the clinician (if not known) is the one whose clinician cues
  most outweigh their patient cues, the patient (if not known) the most patient-like of
  the rest, every further speaker OTHER.
- Otherwise, two or more speakers with enough speech: exactly one clinician (the largest
  clinician margin), one patient (the most patient-like of the rest), every further speaker
  OTHER. Speakers with too little speech never take the clinician or patient role while a
  speaker with enough speech is left to take it.
- The speaker chosen as patient is OTHER instead when they speak for the patient: their
  third-person talk about the patient ("she says", "her ear", "my son") is at least
  ``caregiver_share`` of their third- plus first-person cues (a parent speaking for a
  baby, an interpreter); the next most patient-like speaker, however little they said,
  is then the patient, and if there is none the visit has no PATIENT. A companion is never
  the clinician unless their words outweigh everyone's.
- One speaker with enough speech: CLINICIAN when clinician cues outweigh patient cues (a
  dictation), PATIENT when patient cues outweigh them, UNKNOWN when neither does; any
  short-spoken extra speaker then takes the complementary role if one is open, else OTHER.
- Only short-spoken speakers (a visit of a few lines): the speaker who says what only a
  clinician says (``CLINICIAN_CONTENT``: a dose to take, a prescription, an exam finding,
  the plan) and nothing a patient says about themself (first person, symptom phrases,
  questions about their own care) is the CLINICIAN (of several such speakers, the one
  with the most such content, then the most speech); the most patient-like of the rest
  is the PATIENT (or OTHER when they speak for the patient), every further speaker OTHER.
  Without such a speaker: UNKNOWN, there is nothing to judge from.

Weights live in ``RoleParams``; their defaults are the best point of a grid search on
ACI-BENCH train dialogues only (``python benchmarks/roles.py --tune``: whole dialogues,
one-minute windows, the same without the clinician's questions, and with a companion),
reported on valid (benchmarks/results/roles.json). ``CueRoleLabeller`` is this module as a
role-labelling backend (``"cues"`` in ``scribe.speakers.ROLE_LABELLERS``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from scribe.speakers.turns import is_marker
from scribe.types import ModelInfo, Role, Segment, Transcript

if TYPE_CHECKING:
    from scribe.options import ScribeOptions

logger = logging.getLogger("scribe.speakers.roles")


@dataclass(frozen=True)
class RoleParams:
    """Cue weights (added to a speaker's clinician or patient score per cue) and thresholds.

    The six weights from ``question`` to ``patient_phrase`` are the best point of
    ``benchmarks/roles.py --tune`` on ACI-BENCH train (mean dialogue accuracy over its train
    sets 0.995; the previous hand-set weights over the same cues 0.983); the rest were set
    by hand.
    """

    question: float = 0.5  # per question addressed to the listener ("do you", "any fever")
    neutral_question: float = 0.0  # per other question ("is it strep?")
    patient_question: float = 1.0  # per question about oneself ("should I take it with food?")
    content: float = 2.0  # per prescribing/exam/result/diagnosis/plan cue (CLINICIAN_CONTENT)
    clinician_phrase: float = 1.0  # per exam/plan/instruction/dictation phrase
    patient_phrase: float = 0.5  # per first-person symptom/history phrase
    opener: float = 3.0  # greeting + self-introduction at the start of the visit
    second_person: float = 0.15  # per "you"/"your" (clinicians address the patient)
    first_person: float = 0.15  # per "I"/"my"/"me" (patients talk about themselves)
    third_person: float = 0.3  # per "she"/"he"/"my son"... (a relative speaking about the patient)
    # A non-clinician whose third-person talk ("she says", "her knee", "my son") is at least
    # this share of their third- plus first-person cues speaks for the patient and is OTHER,
    # not PATIENT. On ACI train, patients with at least caregiver_min_cues such cues reach
    # at most 0.45 (a one-minute window of D2N055), whole dialogues 0.24; the companions of
    # benchmarks/roles.py's train companion set 1.0. 0.7 lies between. Below
    # caregiver_min_cues cues (set by hand: a few sentences' worth) there is too little to
    # call it.
    caregiver_share: float = 0.7
    caregiver_min_cues: int = 5
    min_words: int = 8  # speech needed to take part in the clinician/patient decision
    opening_turns: int = 4  # turns counted as "opening the visit"


_LEAD = r"^(?:(?:so|and|okay|ok|alright|all right|now|um|uh|well|but|doctor|doc)[ ,]+)*"
_QUESTION_START = re.compile(
    _LEAD
    + r"(?:how|what|when|where|why|which|who|do you|does|did you|did it|are you|is it|is there|"
    r"have you|has it|has there|can you|could you|would you|will you|any\b|were you|was it)\b"
)
# Questions a patient asks about themself, their illness or their treatment ("should I
# take it with food", "is it serious", "what do you think it is"): asking them is no sign
# of being the clinician (issue 14: a patient who asks the questions was labelled clinician).
_PATIENT_QUESTION_START = re.compile(
    _LEAD
    + r"(?:should i|can i|could i|do i|will i|am i|would i|shall i|may i|is my|are my|was my|"
    r"did my|does my|will my|is that|is this|is it (?:serious|bad|normal|contagious|dangerous|"
    r"cancer|infected|broken)|(?:so )?what do you think|do you think|what does (?:that|it|this) mean|"
    r"what about|what if|how long will|how long until|when (?:can|should|will|do) i|"
    r"how (?:do|should|often should|much should|many should) i|what (?:did|does|do|should) (?:my|i)|"
    r"what (?:is|was) (?:my|it)|what are (?:my|the side)|how (?:is|are|was|were|did) my|"
    r"(?:are|will|would|can|could) you (?:going to |gon na )?(?:give|prescribe|send|write|refill) me)\b"
)
_YOU = re.compile(r"\b(?:you|your|you're|you've|yourself)\b")
_ME = re.compile(r"\b(?:i|i'm|i've|i'd|my|me|myself)\b")


# Phrases that, in a visit, are said by the clinician far more often than by anyone else.
CLINICIAN_PHRASES: tuple[str, ...] = (
    "let me examine", "let me take a look", "let me look", "let me listen", "take a look at",
    "take a deep breath", "deep breath", "breathe in", "on exam", "physical exam", "exam",
    "i'd recommend", "i would recommend", "i recommend", "recommend", "prescribe",
    "i'm going to order", "i am going to order", "we'll order", "we will order", "order a",
    "i want you to", "i'd like you to", "i would like you to", "i'm gon na", "we're gon na",
    "we are going to", "we're going to", "follow up", "follow-up", "come back",
    "your blood pressure", "your vitals", "your heart", "your lungs", "your labs",
    "your x-ray", "your results", "your medication", "your symptoms", "your pain",
    "tenderness", "range of motion", "press here", "does this hurt", "does that hurt",
    "any pain", "any fever", "any chest pain", "any shortness", "diagnosis", "diagnose",
    "consistent with", "it sounds like", "it looks like", "i think you have",
    "presents", "year-old", "year old", "date of birth", "past medical history",
    "history of", "assessment", "impression", "the plan", "my plan", "refer you",
    "referral", "prescription", "mg", "milligrams", "twice a day", "once a day",
    "side effects", "the nurse", "my nurse", "reviewed", "results", "murmur", "edema",
    "unremarkable", "lab work", "labs", "mri", "x-ray", "ct scan", "ekg",
)

# What only the clinician says whoever asks the questions (issue 14): prescribing and dosing
# instructions, exam findings, results and diagnoses, orders and the plan. Regular
# expressions over lower-cased text; each match counts once.
CLINICIAN_CONTENT: tuple[str, ...] = (
    # prescribing and dosing instructions
    r"\btake (?:one|two|1|2|a|half a|one and a half) (?:tablet|pill|capsule|puff|teaspoon|dose)s?\b",
    r"\bevery (?:\w+ )?(?:to \w+ )?hours\b", r"\bas needed\b", r"\bprescrib\w*",
    # a sentence that opens by telling the listener to take a drug at a dose ("Take
    # ibuprofen 400 milligrams three times daily"); "I take metformin 500 mg" does not open so
    r"(?:^|[.!?;]\s+)(?:take|start|use|continue) (?:the )?[a-z]+ \d+(?:\.\d+)? ?(?:milligrams?|mg|micrograms?|mcg|units?)\b",
    r"\b(?:start|put) you on\b", r"\bfinish the (?:whole )?(?:course|antibiotics?|prescription)\b",
    r"\b(?:increase|decrease|double|stop|hold|continue|switch) (?:the|your)\b",
    r"\b(?:i'm|i am|we're|we are) (?:going to|gon na) (?:start|prescribe|send|order|refer|increase|"
    r"decrease|switch|change|give you|put you|check|get|schedule|have you|recheck|repeat)\b",
    r"\b(?:i'll|we'll|i will|we will|let's) (?:start|prescribe|send|order|refer|increase|decrease|"
    r"switch|change|give you|put you|check|recheck|get|schedule|see you|repeat)\b",
    # exam findings
    r"\bon (?:exam|examination)\b", r"\blet me (?:listen|look|check|examine|take a look|feel|see)\b",
    r"\bi (?:hear|don't hear|do n't hear|see no|feel no)\b", r"\b(?:sound|sounds|look|looks) (?:clear|normal|healthy)\b",
    r"\b(?:no|without) (?:sign|signs|evidence) of\b", r"\bclear to auscultation\b",
    r"\b(?:normal|intact|decreased|full) (?:strength|sensation|reflexes|range of motion|pulses)\b",
    r"\b(?:heart rate|respiratory rate|oxygen saturation|saturation|pulse ox|straight leg raise)\b",
    r"\b(?:clean and dry|well healed|healing well|nontender|non-tender|unremarkable|within normal limits)\b",
    r"\byour (?:lungs|heart|exam|ears|throat|abdomen|belly|skin|feet|reflexes|strength|incision|"
    r"wound|oxygen|temperature|a1c|labs|x-ray|mri|ct|results|test|kidney function|blood work)\b",
    # results and diagnoses
    r"\b(?:shows|showed|revealed|demonstrates)\b", r"\bcame back (?:positive|negative|normal)\b",
    r"\bthis is (?:a |an )?(?:likely|most likely|probably|consistent|called)\b",
    r"\b(?:consistent with|most likely|differential)\b",
    # orders, plan and safety-netting
    r"\b(?:i'd|i would|i) (?:recommend|suggest|advise|want you to|like you to)\b",
    r"\bmy (?:plan|recommendation|impression|assessment)\b", r"\b(?:the|our) plan\b",
    r"\bcall (?:the office|us|me)\b", r"\b(?:go|come) (?:back )?to the (?:emergency|er)\b",
    r"\brecheck\b", r"\bsee you back\b",
)
_CONTENT = [re.compile(p) for p in CLINICIAN_CONTENT]

# First-person history and symptom language: what a patient says about themself.
PATIENT_PHRASES: tuple[str, ...] = (
    "i've been", "i have been", "i've had", "i have had", "i had", "i feel", "i felt",
    "i've noticed", "i noticed", "it hurts", "it's been", "it started", "it happened",
    "my knee", "my back", "my shoulder", "my arm", "my leg", "my foot", "my hand",
    "my wrist", "my chest", "my stomach", "my head", "my neck", "my hip", "my ankle",
    "my pain", "my blood pressure", "my sugar", "my medication", "my medicine",
    "my doctor", "my pcp", "hurts", "i can't", "i ca n't", "i couldn't", "i could n't",
    "i don't know", "i do n't know", "i took", "i take", "i'm taking", "i am taking",
    "i was", "i get", "i got", "i went", "i tried", "i think it", "i'm not sure",
    "kind of", "sort of", "yeah", "yes", "no", "nope",
)

# A relative or interpreter talks about the patient, not as the patient.
CAREGIVER_PHRASES: tuple[str, ...] = (
    "she's", "she has", "she is", "she was", "she had", "he's", "he has", "he is", "he was",
    "he had", "my son", "my daughter", "my husband", "my wife", "my mother", "my mom",
    "my father", "my dad", "my child", "my baby", "her ", "his ", "they said",
    # an interpreter or relative relaying the patient ("she says", "does he need")
    "she says", "he says", "she said", "he said", "she wants", "he wants", "she does", "he does",
    "she can", "he can", "she will", "he will", "she feels", "he feels", "she gets", "he gets",
    "does she", "does he", "can she", "can he", "should she", "should he", "is she", "is he",
    "will she", "will he", "did she", "did he",
)

_OPENER = re.compile(
    r"\b(?:i'm dr|i am dr|i'm doctor|i am doctor|my name is|i'm one of the|nice to meet you|"
    r"what brings you|what can i do for you|how can i help)\b"
)
_FIRST = re.compile(r"\b(?:i|i'm|i've|i'd|my|me|myself)\b")
_SECOND = re.compile(r"\b(?:you|your|you're|you've|yourself)\b")


def _count_phrases(text: str, phrases: Sequence[str]) -> int:
    return sum(_phrase_re(p).findall(text).__len__() for p in phrases)


_PHRASE_CACHE: dict[str, re.Pattern[str]] = {}


def _phrase_re(phrase: str) -> re.Pattern[str]:
    pat = _PHRASE_CACHE.get(phrase)
    if pat is None:
        # Word boundaries so "mg" does not fire inside "among"; a phrase ending in a space
        # ("her ") already carries its right boundary.
        right = "" if phrase.endswith(" ") else r"\b"
        pat = re.compile(r"(?<![a-z0-9])" + re.escape(phrase) + right)
        _PHRASE_CACHE[phrase] = pat
    return pat


def _clauses(text: str) -> list[str]:
    # ASR text may carry no punctuation, so questions are also looked for after the
    # discourse markers that separate clauses in spoken English.
    parts = re.split(r"[.?!;]\s*|\b(?:okay|alright|all right)\b[ ,]*", text)
    return [p.strip(" ,") for p in parts if p and p.strip(" ,")]


def count_questions(text: str) -> int:
    """Questions in ``text``, whoever they are typical of (the sum of ``question_kinds``)."""
    return sum(question_kinds(text))


def question_kinds(text: str) -> tuple[int, int, int]:
    """(clinician-like, patient-like, neutral) questions in ``text``.

    A question is a sentence ending in "?" or, in unpunctuated ASR text, a clause opening
    like one ("how long has it", "do you"). Patient-like: about the asker's own illness
    or treatment ("should I take it with food", "is it serious", "what do you think it
    is"). Clinician-like: addressed to the listener ("do you smoke", "any fever", "how
    long have you"). Neutral: the rest ("is it strep", "really?").
    """
    counts = [0, 0, 0]

    def kind(clause: str) -> int:
        if _YOU.search(clause) or clause.startswith("any"):
            return 0  # addressed to the listener: "do you smoke", "any fever"
        return 1 if _ME.search(clause) else 2  # "how do i take it" / "is it strep"

    for sentence in re.split(r"(?<=[.?!;])\s*", text.lower()):
        found = False
        for clause in _clauses(sentence):
            if _PATIENT_QUESTION_START.match(clause):
                counts[1] += 1
            elif _QUESTION_START.match(clause):
                counts[kind(clause)] += 1
            else:
                continue
            found = True
        if not found and sentence.rstrip().endswith("?"):
            counts[kind(sentence)] += 1
    clin, pat, neutral = counts
    return clin, pat, neutral


@dataclass
class _Evidence:
    words: int = 0
    turns: int = 0
    questions: int = 0  # clinician-like: addressed to the listener
    patient_questions: int = 0  # about the asker's own illness or treatment
    neutral_questions: int = 0
    content: int = 0  # CLINICIAN_CONTENT matches
    clinician: int = 0
    patient: int = 0
    caregiver: int = 0
    first: int = 0
    second: int = 0
    opener: bool = False
    first_turn: int = field(default=10**9)


def gather_cues(segments: Sequence[Segment], params: RoleParams) -> dict[str, _Evidence]:
    ev: dict[str, _Evidence] = {}
    turn = -1
    previous: str | None = None
    for seg in segments:
        # An [overlap] marker says speech went unrecognised: no words to judge from.
        if seg.speaker is None or is_marker(seg):
            continue
        if seg.speaker != previous:
            turn += 1
            previous = seg.speaker
        e = ev.setdefault(seg.speaker, _Evidence())
        t = seg.text.lower()
        e.words += len(t.split())
        e.turns += 1
        e.first_turn = min(e.first_turn, turn)
        clin_q, pat_q, neutral_q = question_kinds(t)
        e.questions += clin_q
        e.patient_questions += pat_q
        e.neutral_questions += neutral_q
        e.content += sum(len(p.findall(t)) for p in _CONTENT)
        e.clinician += _count_phrases(t, CLINICIAN_PHRASES)
        e.patient += _count_phrases(t, PATIENT_PHRASES)
        e.caregiver += _count_phrases(t, CAREGIVER_PHRASES)
        e.first += len(_FIRST.findall(t))
        e.second += len(_SECOND.findall(t))
        if turn < params.opening_turns and _OPENER.search(t):
            e.opener = True
    return ev


def _clinician_score(e: _Evidence, p: RoleParams) -> float:
    return (
        p.question * e.questions
        + p.neutral_question * e.neutral_questions
        + p.content * e.content
        + p.clinician_phrase * e.clinician
        + p.second_person * e.second
        + (p.opener if e.opener else 0.0)
    )


def _patient_score(e: _Evidence, p: RoleParams) -> float:
    return p.patient_phrase * e.patient + p.first_person * e.first + p.patient_question * e.patient_questions


def label_roles(
    segments: Sequence[Segment],
    params: RoleParams = RoleParams(),
    known: Mapping[str, Role] | None = None,
) -> dict[str, Role]:
    """Speaker label -> Role from the text each speaker said; unlabelled segments ignored.

    ``known``: roles already decided by something stronger than words (a speaker matched
    to an enrolled clinician's voice); they are kept as given, and the words decide the
    rest (with a known clinician, the most patient-like other speaker is the patient).
    """
    return decide_roles(gather_cues(segments, params), params, known)


def _speaks_for_patient(e: _Evidence, p: RoleParams) -> bool:
    """A parent or relative who speaks for a patient who says nothing (a baby): talk about
    "she"/"my son" far more than about "I"/"my"."""
    cues = e.caregiver + e.first
    return cues >= p.caregiver_min_cues and e.caregiver >= p.caregiver_share * cues


def _pick_patient(roles: dict[str, Role], candidates: list[str], ev: Mapping[str, _Evidence], params: RoleParams, key) -> None:
    """The most patient-like candidate is PATIENT; one who speaks for the patient is OTHER
    and the next takes the role (an interpreter's patient who says little)."""
    for s in sorted(candidates, key=key, reverse=True):
        if _speaks_for_patient(ev[s], params):
            roles[s] = Role.OTHER
        else:
            roles[s] = Role.PATIENT
            return


def decide_roles(
    ev: Mapping[str, _Evidence], params: RoleParams = RoleParams(), known: Mapping[str, Role] | None = None
) -> dict[str, Role]:
    """The decision rules (module docstring) over each speaker's gathered cues."""
    known = {s: r for s, r in (known or {}).items() if r is not Role.UNKNOWN}
    if not ev:
        return dict(known)
    clin = {s: _clinician_score(e, params) for s, e in ev.items()}
    pat = {s: _patient_score(e, params) for s, e in ev.items()}
    # Being a caregiver argues against being the patient, not for being the clinician.
    patient_like = {s: pat[s] - params.third_person * ev[s].caregiver - 0.5 * clin[s] for s in ev}
    # Order: substantial speakers first; ties broken by more speech, then by who spoke first,
    # so the result does not depend on dict order.
    def key_clin(s: str) -> tuple:
        return (ev[s].words >= params.min_words, clin[s] - pat[s], ev[s].words, -ev[s].first_turn)

    def key_pat(s: str) -> tuple:
        return (ev[s].words >= params.min_words, patient_like[s], ev[s].words, -ev[s].first_turn)

    if known:
        # Roles from something stronger than words stay; the words fill the roles left open
        # from the speakers left (the clinician first, then the most patient-like).
        roles = dict(known)
        rest = [s for s in ev if s not in roles]
        if rest and Role.CLINICIAN not in roles.values():
            clinician = max(rest, key=key_clin)
            roles[clinician] = Role.CLINICIAN
            rest.remove(clinician)
        if Role.PATIENT not in roles.values():
            _pick_patient(roles, rest, ev, params, key_pat)
        for s in ev:
            roles.setdefault(s, Role.OTHER)
        return roles

    roles: dict[str, Role] = {}
    substantial = [s for s, e in ev.items() if e.words >= params.min_words]
    if len(substantial) >= 2:
        clinician = max(ev, key=key_clin)
        roles[clinician] = Role.CLINICIAN
        _pick_patient(roles, [s for s in ev if s != clinician], ev, params, key_pat)
    elif len(substantial) == 1:
        only = substantial[0]
        if clin[only] > pat[only]:
            roles[only] = Role.CLINICIAN
        elif pat[only] > clin[only]:
            roles[only] = Role.PATIENT
        else:
            roles[only] = Role.UNKNOWN
        open_role = {Role.CLINICIAN: Role.PATIENT, Role.PATIENT: Role.CLINICIAN}.get(roles[only])
        rest = sorted((s for s in ev if s != only), key=lambda s: (-ev[s].words, ev[s].first_turn))
        if open_role is not None and rest:
            roles[rest[0]] = open_role
    else:
        # A short visit: clinician-only content with no patient cue still decides.
        clear = [s for s, e in ev.items() if e.content > 0 and pat[s] == 0]
        if clear:
            clinician = max(clear, key=lambda s: (ev[s].content, ev[s].words, -ev[s].first_turn))
            roles[clinician] = Role.CLINICIAN
            _pick_patient(roles, [s for s in ev if s != clinician], ev, params, key_pat)
            substantial = [clinician]  # the rest are OTHER, as beside a substantial speaker
    for s in ev:
        roles.setdefault(s, Role.OTHER if len(substantial) >= 1 else Role.UNKNOWN)
    logger.debug(
        "roles for %d speakers: %s",
        len(roles),
        {s: r.value for s, r in roles.items()},
    )
    return roles


def apply_roles(transcript: Transcript, params: RoleParams = RoleParams()) -> Transcript:
    """A new transcript with every segment's role set and ``speakers`` filled; roles
    already in ``transcript.speakers`` (an enrolled voice's) are kept."""
    roles = label_roles(transcript.segments, params, transcript.speakers)
    segments = tuple(
        replace(s, role=roles.get(s.speaker, Role.UNKNOWN)) if s.speaker is not None else s
        for s in transcript.segments
    )
    return replace(transcript, segments=segments, speakers=dict(roles))


class CueRoleLabeller:
    """Roles from content cues (``apply_roles``), as a ``scribe.speakers.RoleLabeller``.

    Parameters
    ----------
    params : RoleParams
        Cue weights and thresholds.
    """

    name = "cues"
    version = "0.1.0"

    def __init__(self, params: RoleParams = RoleParams()):
        self.params = params
        self.model_info = ModelInfo("role-labeller", self.name, self.version)

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "CueRoleLabeller":
        """No options of its own yet: ``RoleParams`` defaults."""
        return cls()

    def label(self, transcript: Transcript) -> Transcript:
        """``apply_roles(transcript, params)``."""
        return apply_roles(transcript, self.params)
