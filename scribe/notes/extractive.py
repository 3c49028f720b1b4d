"""The embedded note drafter: a learned, grounded, concise restatement of the visit.

Offline, deterministic, and about a millisecond per sentence on a laptop CPU. Steps:

1. **Sentences.** Segments become sentences with their evidence
   (``scribe.notes.utterances``): a speaker's line is rejoined across recogniser
   breaks and the other speaker's "mm-hmm", so no sentence ends mid-phrase.
2. **What goes in, and where.** The section model (``scribe.notes.sections``), fitted on
   ACI-BENCH train, scores each sentence: is it note-worthy, and which clinical section
   (chief complaint, HPI, history, ROS, medications, allergies, exam, results,
   assessment, plan) it feeds. The template maps those kinds onto its own sections;
   its cue words only route what its kinds do not cover.
   Where a sentence says its kind outright (a dictated "Plan:", an allergy, a drug the
   patient takes, safety-net advice, an instruction, a dosing instruction whoever said
   it, a diagnosis the clinician named: ``data/diagnoses.txt`` or a disease-name
   ending, dictated after "Assessment", framed as one, "it's an ear infection", or
   said bare), a rule overrides the model.
3. **How it is written** (``scribe.notes.restate``): disfluency and the clinician's
   lead-ins dropped ("I'm gonna go ahead and"), first and second person moved to the
   third ("She has had a cough"), a plain yes/no exchange written as a finding ("Denies
   fever or chills."). A diagnosis said with doubt keeps it. Nothing else is added.
4. **How long.** The template's verbosity sets a word budget (brief about 160 words,
   full about 450); the most note-worthy sentences fill it, near-duplicates are dropped,
   a stated diagnosis (however short: "Assessment: pneumonia.") and safety-net advice
   are always kept, a patient's first-person complaint ("my stomach hurts", a greeting
   in front of it dropped) counts as note-worthy, a salient fact the budget
   left out pulls its sentence back in, and each section keeps spoken order.

Patient instructions are the plan and advice the clinician gave, in the second person
as they were said. Registered as ``"extractive"`` in ``scribe.notes.DRAFTERS``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scribe.notes.restate import (
    Person,
    answer_items,
    answer_polarity,
    finish,
    negated_question,
    patient_person,
    question_topic,
    strip_hedges,
    tidy,
    to_third_person,
)
from scribe.notes.omissions import mentions_medication, names_diagnosis, salient_facts, symptoms_named
from scribe.notes.sections import SectionModel, featurize, load_section_model
from scribe.notes.templates import Template, TemplateSection
from scribe.notes.utterances import Utterance, utterances
from scribe.options import ScribeOptions
from scribe.speakers.roles import apply_roles
from scribe.types import Note, NoteSection, NoteSentence, Role, Segment, Transcript

logger = logging.getLogger("scribe.notes.extractive")

# Words restating a yes/no exchange adds in front of the topic asked about.
DENIES = "Denies"
ENDORSES = "Endorses"

_STOP = frozenset(
    """a an the and or but so if then than that this these those there here it its it's i
    i'm i've i'd me my you your you're we we're our us he she him her his they them their
    is am are was were be been being do does did done have has had having will would can
    could should shall may might must to of in on at by for with from about as into up
    down out over just very really yeah yes no not okay ok alright right well um uh mm-hmm
    hmm like know think kind sort gon na going get got go lot little bit thing things stuff
    all any some what how when where why which who also too now still again back one
    because actually oh sure good great fine""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SMALL_TALK = re.compile(
    r"\b(?:hi|hello|hey|bye|goodbye|thank you|thanks|nice to (?:meet|see)|good to (?:meet|see)|"
    r"how are you|how're you|how are we|have a (?:good|great|nice)|take care|dax|dragon|"
    r"see you|you're welcome|no problem|sounds good|any other questions|any questions|questions|concerns|"
    r"the weather|weekend|vacation|game|tell dax|review of symptoms sheet|"
    r"gon na check you out|go ahead and examine|let me examine|take a (?:deep )?breath|"
    r"breathe in|breathe out|lie back|sit up|lean forward|look straight|follow my finger|"
    r"push against|squeeze my)\b"
)
# Exam instructions and courtesy that a note never carries, whatever the model thinks.
_NEVER = re.compile(
    r"^(?:show me|i'm glad|i am glad|that's (?:good|great|awesome|wonderful)|good to hear|take a deep breath|"
    r"breathe (?:in|out|deeply|normally)|deep breath|lean (?:forward|back)|lie (?:back|down|flat)|"
    r"sit (?:up|back|down)|stand up for me|look (?:straight|up|down|at me|to the|over)|follow my|"
    r"push (?:against|on my|up)|pull (?:against|toward)|"
    r"squeeze|relax|open your mouth|say ah|let me|i'm just gon na|i'm gon na check|press (?:on|here|down)|i'm going to press|"
    r"i'm (?:just )?(?:going to|gon na|gonna) (?:take|check|listen|look|examine|feel|press|have you)|"
    r"this is (?:doctor|dr\.?) \w+ calling)\b"
)
_CC = re.compile(
    r"\b(?:presents?(?: today)?(?: here)?(?: for| with)|presenting with|here (?:today )?(?:for|with)|"
    r"complaining of|complains of|in for|referred (?:for|by \w+ for)|coming in for|came in for)\s+"
    r"(?:an? |the |some |his |her |their |evaluation of |follow-up of |follow up of |a follow-up (?:for|of) )?"
    r"(.+?)(?:[.,;]| and (?:he|she|they|i|we)\b| but\b| which\b|$)"
)
_OPENER_Q = re.compile(r"\b(?:what brings you|what brought you|what can i do for you|how can i help|what's going on|what is going on)\b")
# What a clinician says when stating a diagnosis, and when stating a plan: they settle
# the model's least certain call, assessment against plan.
_ASSESSMENT_CUE = re.compile(
    r"\b(?:i think (?:this is|it's|it is|you have|that you have|you've got|he has|she has)|"
    r"most likely|consistent with|worried about|"
    r"diagnos\w+|sounds like|looks like (?:you have|it's|this is)|impression|suspect|"
    r"concerned (?:about|for|that)|probably (?:a|an|just)|is (?:well )?controlled|is stable|"
    r"(?:looks|sounds|seems) like (?:a|an)|(?:these|they) (?:sound|look) like|this is (?:a|an|likely|probably)|"
    r"you have (?:a|an)|is (?:improving|worsening|not well controlled|well controlled|uncontrolled)|"
    r"(?:this|it|that) (?:looks|sounds|seems) like|^(?:so,? )?you have (?!been|had|to|got|a lot|some|any)\w+)\b"
)
# A diagnosis stated outright, narrower than the cues above ("I think it's something we
# can fix" routes as assessment but is not a diagnosis the budget must keep).
_DIAGNOSIS_CUE = re.compile(
    r"\b(?:diagnos\w+|consistent with|most likely|impression|suspect|worried about|concerned (?:about|for)|"
    r"i think (?:this is|it's|it is) (?:a|an|likely|probably|most likely|just)|"
    r"i think (?:you have|that you have|you've got|he has|she has)|"
    r"(?:looks|sounds|seems) like (?:a|an|you have)|(?:these|they) (?:sound|look) like|"
    r"(?:this|it) is (?:a|an|most likely|likely|probably)|you have (?:a|an)|"
    r"(?:this|it|that) (?:looks|sounds|seems) like|^(?:so,? )?you have (?!been|had|to|got|a lot|some|any)\w+)\b"
)
# A dictated assessment heading followed by what was assessed ("Assessment, community
# acquired pneumonia.", "Impression: strep pharyngitis."): a stated diagnosis however short.
_DICTATED_ASSESSMENT = re.compile(r"^\W*(?:my |the )?(?:assessment|impression|diagnosis)\b(?:\s+is)?[\s,:;-]+[a-z]")
# How a clinician frames a diagnosis they name ("it's an ear infection", "this is
# community acquired pneumonia", "likely sciatica"); what is named must be a diagnosis
# (``omissions.names_diagnosis``), so "it's a good idea" is not one.
_DIAGNOSIS_FRAME = re.compile(
    r"\b(?:(?:this|it|that) (?:is|was)|it's|that's|likely|probably|possibly|looks like|sounds like|"
    r"consistent with)\b"
)
# A bare diagnosis ("Contact dermatitis.", "Community acquired pneumonia."): a
# clinician's sentence of at most this many content words that names one.
_BARE_DIAGNOSIS_WORDS = 4
# A framed one ("it's an ear infection") of at most this many: a longer sentence that
# names a diagnosis the section model reads on its own, and lifting those cost ACI-BENCH
# train (soap) ROUGE-1 0.400 -> 0.396; at 4 or 6 words none is lost (8: ROUGE-L -0.001).
_FRAMED_DIAGNOSIS_WORDS = 6
_TEST_RESULT = re.compile(r"\b(?:positive|negative|test|swab|culture|results?|levels?)\b")
# A patient's complaint in the first person ("my stomach hurts", "I've had a cough"):
# Subjective material however short the visit, whatever the section model scores it.
# Only a short one (at most this many content words): the model scores a longer
# complaint on its own words. Lifting every complaint cost ACI-BENCH train (hp) ROUGE-1
# 0.527 -> 0.526; at 4 words 0.5269 -> 0.5268 (6: 0.5267).
_COMPLAINT_WORDS = 4
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|my|me)\b")
_COMPLAINT = re.compile(r"\b(?:hurts?|hurting|aches?|aching|sore|pain|painful|swollen|itch(?:es|y|ing)?|burns|burning)\b")
# A greeting in front of what the speaker came to say ("Hi doctor, my stomach hurts"): the
# greeting is small talk, the rest is not.
_GREETING = re.compile(
    r"^\W*(?:(?:hi|hello|hey|good (?:morning|afternoon|evening))(?: there| doctor| doc| (?:dr|mr|mrs|ms)\.? \w+| \w+)?[,.!]\s+)+",
    re.IGNORECASE,
)


def _states_diagnosis(low: str) -> bool:
    """Whether a clinician's sentence (lower case) states a diagnosis: the cues of
    ``_DIAGNOSIS_CUE``, a dictated "Assessment: ..." with its content, or a named
    diagnosis (``names_diagnosis``) framed as one ("it's an ear infection", "likely
    sciatica") or said bare ("Contact dermatitis.")."""
    if _DIAGNOSIS_CUE.search(low) or _DICTATED_ASSESSMENT.match(low):
        return True
    if low.rstrip().endswith("?") or "history of" in low or not names_diagnosis(low):
        return False
    t = tidy(low).lower()
    if _DIAGNOSIS_FRAME.search(low) and len(content_words(t)) <= _FRAMED_DIAGNOSIS_WORDS:
        return True
    return (
        len(content_words(t)) <= _BARE_DIAGNOSIS_WORDS
        and not (_PLAN_CUE.search(t) or _IMPERATIVE.match(t) or mentions_medication(t) or _NUMERIC.search(t))
        and not _TEST_RESULT.search(t)  # "Strep positive.": a result, for the Objective
    )


def _complaint(low: str) -> bool:
    """A first-person complaint: "my ankle hurts", "I have a sore throat", "I've had a
    fever" (a symptom of ``data/symptoms.txt`` or a word of pain)."""
    return bool(_FIRST_PERSON.search(low)) and bool(symptoms_named(low) or _COMPLAINT.search(low))


# Safety-net advice ("if you get a fever, come back") belongs to the plan, whatever else
# the sentence mentions.
_SAFETY_NET = re.compile(
    r"\b(?:come back|call (?:us|me|the office)|return (?:to|if)|go to the (?:er|emergency)|"
    r"seek (?:care|medical)|if (?:you|it|that|they|he|she) (?:get|gets|have|has|develop|develops|"
    r"notice|start|starts|become|becomes|worsen|worsens|get worse|gets worse))\b"
)
_PLAN_CUE = re.compile(
    r"\b(?:recommend|order|prescribe|refer|schedule|follow up|follow-up|come back|start|"
    r"continue|increase|decrease|stop|milligrams|mg|twice|once a day|daily|physical therapy)\b"
)
_ALLERGY_TALK = re.compile(r"\b(?:allerg(?:y|ies|ic)|anaphyla\w*)\b")
# Dictation headings and the phrases that open a finding, in the clinician's words.
_HEADINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("assessment", re.compile(r"^(?:\W*)(?:my |the )?(?:assessment|impression|diagnosis)\b")),
    ("plan", re.compile(r"^(?:\W*)(?:my |the )?(?:plan|recommendations?)\b")),
    ("medications", re.compile(r"^(?:\W*)(?:current |home )?medications?\s*:")),
    ("allergies", re.compile(r"^(?:\W*)allergies\s*:")),
    ("exam", re.compile(r"^(?:\W*)(?:on (?:physical )?exam(?:ination)?|(?:physical )?exam(?:ination)? (?:shows|reveals|is)|vital signs|vitals)\b")),
    # A test said with its result ("Strep positive.", "Covid test negative.").
    ("results", re.compile(r"^(?:\W*)(?:[a-z0-9-]+ ){1,3}(?:is |was |came back )?(?:positive|negative)\b")),
    # A finding said as one: vital signs ("Her vitals are stable, temperature 38.5") or
    # a body part and what was found ("Abdomen soft, mildly tender.", "Lungs clear.").
    ("exam", re.compile(
        r"^(?:\W*)(?:(?:her|his|their|the) )?(?:vitals?|vital signs|temperature (?:is |was |of )?\d|heart rate (?:is |was |of )?\d|"
        r"(?:abdomen|belly|lungs?|heart|chest|throat|ears?|tympanic membranes?|neck|extremities|pupils)\b[^.?!]{0,12}?"
        r"\b(?:soft|clear|regular|tender|nontender|non-tender|supple|erythematous|benign|distended|intact|"
        r"red|bulging|swollen|normal))\b"
    )),
    ("results", re.compile(r"\b(?:x-ray|mri|ct scan|ultrasound|ekg|echo(?:cardiogram)?|labs?|lab work|blood work|a1c|results?)\b[^.?!]{0,40}\b(?:shows?|showed|revealed?|reveals|came back|was|were|is)\b")),
)
# What the patient calls their medicines without naming one.
_MEDS_TALK = re.compile(
    r"\b(?:take|taking|takes|on|use|using)\b[^.?!]{0,30}\b(?:inhaler|vitamin|multivitamin|birth control|"
    r"medications?|meds|pills?)\b"
)
# A clinician's sentence that opens with an instruction is the plan ("Push fluids",
# "Stand up slowly", "Stop the hydrochlorothiazide").
_IMPERATIVE = re.compile(
    r"^(?:push|stand|stop|start|take|keep|avoid|drink|use|continue|increase|decrease|follow|return|"
    r"call|come|schedule|apply|try|rest|ice|elevate|hold|switch|watch|get|make sure|limit|cut|"
    r"wear|do not|don't|no more|plan to)\b"
)
_EXAM_TALK = re.compile(
    r"\b(?:exam|examination|on palpation|auscultation|x-ray shows|results? (?:of|show)|shows|showed|"
    r"revealed|came back|press|(?:was|were|is) \d+(?:\.\d+)?)\b"
)
# Numbers, doses and units: kept whole, and a sentence with one counts as content.
_NUMERIC = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twice|once)\b")


# A dose: a number and a unit ("400 milligrams", "two puffs").
_DOSE = re.compile(
    r"\b(?:\d+(?:\.\d+)?|one|two|three|four|five|half a)\s*(?:mg|milligrams?|mcg|micrograms?|g|grams?|ml|"
    r"units?|tablets?|pills?|capsules?|puffs?|drops?|teaspoons?)\b"
)
# The kinds a template's history section takes (a patient's complaint is one of them).
_SUBJECTIVE_KINDS = frozenset({"chief_complaint", "hpi", "history", "ros"})

_SALIENT_KINDS = ("medication", "number", "allergy", "follow-up", "symptom")


@dataclass(frozen=True)
class DraftParams:
    """Drafting hyperparameters, with where each value comes from.

    ``min_worthy``, ``budget_full`` and ``salient_extra`` were chosen by 5-fold
    cross-validation on ACI-BENCH train (ROUGE-1 of the drafted note with the section
    model refitted on each fold's other four: min_worthy 0.15-0.45, budget 420-500,
    salient_extra 0.1-0.2; valid was not consulted). ``budget_brief`` follows the issue's
    brief GP note (100-200 words); ``budget_full`` lands the full note at ACI-BENCH's
    median reference length (about 400 words).
    """

    min_worthy: float = 0.2  # P(note-worthy) below which a sentence is left out
    budget_brief: int = 160  # words for verbosity = "brief"
    budget_full: int = 450  # words for verbosity = "full"
    min_content_words: int = 2  # fewer (and no number) is chatter
    dedup_jaccard: float = 0.6  # content-word overlap above which two sentences are one
    max_sentence_words: int = 45  # longer restatements are cut at their clause ends
    short_answer_words: int = 6  # a reply this short is read with the question it answers
    # The salient pass (medications, doses, allergies, follow-up left out by the budget)
    # may run this fraction over budget, with sentences at least this note-worthy.
    salient_extra: float = 0.2
    salient_min_worthy: float = 0.05
    # The score a stated diagnosis or safety-net advice is lifted to: above min_worthy
    # and above most note-worthy sentences, so the budget never drops them.
    must_include: float = 0.9


@dataclass(frozen=True)
class _Candidate:
    text: str
    kind: str
    score: float
    evidence: tuple[str, ...]
    order: int
    role: Role


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and (len(w) > 2 or w.isdigit())]


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _union_jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _clip(text: str, max_words: int) -> str:
    """A long restatement cut after its last clause end within ``max_words``."""
    words = text.split()
    if len(words) <= max_words:
        return text
    head = " ".join(words[:max_words])
    cut = max(head.rfind(","), head.rfind(";"), head.rfind("."))
    return head[:cut] if cut > len(head) // 2 else head


class ExtractiveDrafter:
    """Learned selection and grounded restatement of transcript sentences
    (``scribe.notes.Drafter``). ``version`` names the drafter code and the section
    model it loaded ("0.3.0+m1"; 0.3.0: stated diagnoses kept in the Assessment, short visits)."""

    name = "extractive"

    def __init__(self, params: DraftParams = DraftParams(), model: SectionModel | None = None):
        self.params = params
        self.model = model or load_section_model()
        self.version = f"0.3.0+m{self.model.version}"

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "ExtractiveDrafter":
        """No options of its own: ``DraftParams`` defaults and the shipped model."""
        return cls()

    # -- restatement ---------------------------------------------------------------
    def _restate(self, u: Utterance, person: Person) -> str:
        text = tidy(u.text)
        if u.role is Role.CLINICIAN:
            text = strip_hedges(text)
            text = to_third_person(text, person, speaker_is_patient=False)
        elif u.role is Role.PATIENT:
            text = to_third_person(text, person, speaker_is_patient=True)
        text = tidy(text)
        return finish(_clip(text, self.params.max_sentence_words))

    def _exchange(self, q: Utterance, a: Utterance, person: Person) -> str | None:
        """A yes/no exchange as a finding, or None when it is not one."""
        polarity = answer_polarity(a.text)
        if polarity is None or len(a.text.split()) > self.params.short_answer_words:
            return None
        topic, symptom = question_topic(q.text)
        if not content_words(topic):
            return None
        if negated_question(q.text) and polarity is not False:
            return None  # "no fever?" "yes": yes, no fever, or yes, fever?
        if symptom:
            named = answer_items(a.text)
            if named:
                # "Any fever or chills?" "No fever.": only what the answer names, and only
                # when it names part of what was asked.
                if not set(content_words(named)) <= set(content_words(topic)):
                    return None
                topic = named
            topic = to_third_person(topic, person, speaker_is_patient=False)
            return finish(f"{DENIES if polarity is False else ENDORSES} {topic}")
        if polarity and re.match(r"^(?:you|you're|you've)\b", topic, re.IGNORECASE):
            # "you're avoiding the salty foods?" "yes" -> "He is avoiding the salty foods."
            return finish(tidy(to_third_person(topic, person, speaker_is_patient=False)))
        return None  # a question we cannot turn into a statement without new words

    # -- drafting ---------------------------------------------------------------------
    def _candidates(self, utts: list[Utterance], person: Person) -> list[_Candidate]:
        p = self.params
        docs = [featurize(utts, i) for i in range(len(utts))]
        worthy, kinds, _ = self.model.predict(docs)
        out: list[_Candidate] = []
        used_answers: set[int] = set()
        heading: tuple[int, str] | None = None  # (turn, kind) of a dictated heading
        for i, u in enumerate(utts):
            low = u.text.lower()
            if u.role is Role.CLINICIAN:
                said = _dictated_heading(low)
                if said is not None:
                    heading = (u.turn, said)
                elif heading is not None and heading[0] != u.turn:
                    heading = None
            if u.is_question:
                if _SMALL_TALK.search(low):
                    continue  # "any questions?" "no" is not a finding
                nxt = utts[i + 1] if i + 1 < len(utts) else None
                if nxt is None or nxt.speaker == u.speaker or u.role is not Role.CLINICIAN:
                    continue
                text = self._exchange(u, nxt, person)
                if text is None:
                    continue
                used_answers.add(i + 1)
                score = max(float(worthy[i]), float(worthy[i + 1]))
                # A yes/no about a symptom is the review of systems; about allergies or
                # medicines, those sections.
                kind = _rule_kind(u.text.lower(), Role.PATIENT) or ("ros" if text.startswith((DENIES, ENDORSES)) else kinds[i])
                out.append(_Candidate(text, kind, score, (*u.evidence, *nxt.evidence), i, u.role))
                continue
            if i in used_answers:
                continue
            greeting = _GREETING.match(u.text)
            if greeting and greeting.end() < len(u.text):
                # "Hi doctor, my stomach hurts": the greeting goes, the complaint stays.
                u = replace(u, text=u.text[greeting.end():])
                low = u.text.lower()
            if _SMALL_TALK.search(low) and len(content_words(low)) < 6:
                continue
            if _NEVER.match(tidy(low).lower()):
                continue
            text = self._restate(u, person)
            words = content_words(text)
            if len(words) < p.min_content_words and not (words and _NUMERIC.search(text)):
                continue
            kind = _settle(kinds[i], u)
            if (
                heading is not None
                and heading[0] == u.turn
                and _rule_kind(low, u.role) is None
                and not (_states_diagnosis(low) or _SAFETY_NET.search(low))
            ):
                kind = heading[1]  # "Plan: ... Return in 3 months." in one dictated turn
            score = float(worthy[i])
            if u.role is Role.CLINICIAN and (_SAFETY_NET.search(low) or _states_diagnosis(low)):
                # A diagnosis the clinician stated and safety-net advice are never left
                # out for the budget: a clinician signing the note must see both. The
                # section model scores a short one low ("Assessment: pneumonia." 0.08:
                # ACI-BENCH's diagnoses come in long sentences), so the rule decides.
                score = max(score, p.must_include)
            elif u.role is not Role.CLINICIAN and kind in _SUBJECTIVE_KINDS and _complaint(low) and len(words) <= _COMPLAINT_WORDS:
                # A patient's first-person complaint is note-worthy however briefly said
                # ("my stomach hurts" scores 0.06: short patient lines in ACI-BENCH are
                # mostly chatter); it still yields to the budget.
                score = max(score, p.min_worthy)
            out.append(_Candidate(text, kind, score, u.evidence, i, u.role))
        return out

    def _chief_complaint(self, utts: list[Utterance], person: Person) -> NoteSentence | None:
        """The reason for the visit in the clinician's words ("presents with X") or, failing
        that, the patient's answer to "what brings you in"."""
        for u in utts:
            if u.role is Role.CLINICIAN and not u.is_question:
                m = _CC.search(tidy(u.text).lower())
                if m and 1 <= len(content_words(m.group(1))) <= 8:
                    return NoteSentence(finish(m.group(1)), u.evidence)
        for i, u in enumerate(utts[:-1]):
            if u.role is Role.CLINICIAN and _OPENER_Q.search(u.text.lower()):
                a = utts[i + 1]
                if a.role is not Role.CLINICIAN and content_words(a.text):
                    return NoteSentence(self._restate(a, person), a.evidence)
        return None

    def _instructions(self, cands: list[_Candidate], utts: list[Utterance]) -> tuple[NoteSentence, ...]:
        """The clinician's plan and advice, in the second person as said."""
        out: list[NoteSentence] = []
        seen: list[set[str]] = []
        for c in sorted(cands, key=lambda c: c.order):
            if c.kind != "plan" or c.role is not Role.CLINICIAN:
                continue
            low = utts[c.order].text.lower()
            # Advice is the patient's to keep even when the note's budget would not:
            # anything the clinician recommended, told them to do, or warned about.
            advice = _PLAN_CUE.search(low) or _IMPERATIVE.match(tidy(low).lower()) or _SAFETY_NET.search(low)
            if c.score < self.params.min_worthy and not advice:
                continue
            if _EXAM_TALK.search(utts[c.order].text.lower()):
                continue  # findings are for the record, not the patient's to-do list
            u = utts[c.order]
            said = re.sub(r"^\W*(?:my |the )?(?:plan|recommendations?)\s*:\s*", "", tidy(u.text), flags=re.IGNORECASE)
            text = finish(_clip(tidy(strip_hedges(said)), self.params.max_sentence_words))
            words = set(content_words(text))
            if len(words) < 2 or any(_jaccard(words, s) >= self.params.dedup_jaccard for s in seen):
                continue
            seen.append(words)
            out.append(NoteSentence(text, u.evidence))
        return tuple(out[:8])

    def _duplicate(self, kind: str, words: set[str], kept: list[tuple[str, set[str]]]) -> bool:
        """Whether a sentence repeats one already kept (most of its content words).
        A review-of-systems finding and a sentence of another kind are compared on
        nearly all their words only: a denial shares its words with the safety-net
        advice about the same symptoms, and both belong in the note."""
        for k_kind, k_words in kept:
            if (kind == "ros") != (k_kind == "ros"):
                if _union_jaccard(words, k_words) >= 0.8:
                    return True
            elif _jaccard(words, k_words) >= self.params.dedup_jaccard:
                return True
        return False

    def _carry_salient(
        self,
        cands: list[_Candidate],
        routes: dict[int, TemplateSection | None],
        chosen: dict[str, list[_Candidate]],
        kept: list[tuple[str, set[str]]],
        segments: Sequence[Segment],
        room: int,
    ) -> int:
        """Second pass: a medication, dose, allergy or follow-up interval said but not yet
        carried pulls in the best sentence that carries it, within ``salient_extra`` of
        the budget. Returns the words added."""
        room += int(self.params.salient_extra * (room + sum(len(c.text.split()) for v in chosen.values() for c in v)))
        taken = {c.order for v in chosen.values() for c in v}
        text = " ".join(c.text.lower() for v in chosen.values() for c in v)
        added = 0
        for fact in salient_facts(segments):
            if fact.kind not in _SALIENT_KINDS:
                continue
            key = fact.text.lower().split()[0] if fact.kind == "medication" else fact.text.lower()
            if key in text:
                continue
            best = None
            for c in cands:
                if c.order in taken or routes[c.order] is None or key not in c.text.lower():
                    continue
                words = set(content_words(c.text))
                if self._duplicate(c.kind, words, kept):
                    continue
                if best is None or c.score > best.score:
                    best = c
            if best is None or best.score < self.params.salient_min_worthy:
                continue
            n = len(best.text.split())
            if added + n > room:
                continue
            sec = routes[best.order]
            chosen[sec.id].append(best)
            kept.append((best.kind, set(content_words(best.text))))
            taken.add(best.order)
            text += " " + best.text.lower()
            added += n
        return added

    def draft(self, transcript: Transcript, template: Template) -> Note:
        segments = transcript.segments
        # A transcript straight from the diarizer has no roles yet; restating needs them.
        if segments and all(s.role is Role.UNKNOWN for s in segments):
            segments = apply_roles(transcript).segments
        valid_ids = {s.id for s in segments}
        utts = utterances(segments)
        person = patient_person(" ".join(u.text for u in utts if u.role is Role.CLINICIAN))
        cands = self._candidates(utts, person)
        routes = {c.order: _route(c, template) for c in cands}

        budget = self.params.budget_brief if template.verbosity == "brief" else self.params.budget_full
        budget = template.target_words or budget
        chosen: dict[str, list[_Candidate]] = {sec.id: [] for sec in template.sections}
        kept: list[tuple[str, set[str]]] = []
        words_used = 0
        cc = self._chief_complaint(utts, person)
        cc_section = _section_for(template, "chief_complaint")
        cc_words = set(content_words(cc.text)) if cc is not None else set()
        seen = [("chief_complaint", cc_words)] if cc_words else []
        if cc is not None and cc_section is not None:
            words_used += len(cc.text.split())
        for c in sorted(cands, key=lambda c: (-c.score, c.order)):
            if c.score < self.params.min_worthy:
                continue
            sec = routes[c.order]
            if sec is None or (cc is not None and c.kind == "chief_complaint"):
                continue
            if sec.max_sentences is not None and len(chosen[sec.id]) >= sec.max_sentences:
                continue
            words = set(content_words(c.text))
            if self._duplicate(c.kind, words, kept):
                continue
            if cc is not None and _union_jaccard(words, cc_words) >= self.params.dedup_jaccard:
                continue  # the chief complaint line already says it
            n = len(c.text.split())
            if words_used + n > budget:
                continue
            kept.append((c.kind, words))
            words_used += n
            chosen[sec.id].append(c)

        words_used += self._carry_salient(cands, routes, chosen, kept + seen, segments, budget - words_used)

        sections = []
        for sec in template.sections:
            sentences = [
                NoteSentence(c.text, tuple(e for e in c.evidence if e in valid_ids))
                for c in sorted(chosen[sec.id], key=lambda c: c.order)
            ]
            if cc is not None and cc_section is not None and sec.id == cc_section.id:
                sentences.insert(0, cc)
            sections.append(
                NoteSection(
                    id=sec.id,
                    title=sec.title,
                    sentences=tuple(s for s in sentences if s.evidence and s.text),
                    loinc=sec.loinc,
                    empty_text=sec.empty_text,
                )
            )
        logger.debug(
            "drafted %d sentences (%d words) from %d segments with template %s",
            sum(len(s.sentences) for s in sections),
            words_used,
            len(segments),
            template.id,
        )
        return Note(
            template=template.id,
            title=template.title,
            loinc=template.loinc,
            sections=tuple(sections),
            status="preliminary",
            instructions=self._instructions(cands, utts),
        )


_HEADING_COLON = re.compile(
    r"^\W*(?:my |the )?(assessment|impression|diagnosis|plan|recommendations?|medications?|allergies|"
    r"exam|physical exam|examination)\s*:"
)
_HEADING_KIND = {
    "assessment": "assessment", "impression": "assessment", "diagnosis": "assessment",
    "plan": "plan", "recommendation": "plan", "recommendations": "plan",
    "medication": "medications", "medications": "medications", "allergies": "allergies",
    "exam": "exam", "physical exam": "exam", "examination": "exam",
}


def _dictated_heading(low: str) -> str | None:
    """The kind a dictated heading with a colon opens ("Plan: ..."), which the sentences
    after it in the same turn inherit."""
    m = _HEADING_COLON.match(low)
    return _HEADING_KIND[m.group(1)] if m else None


def _rule_kind(low: str, role: Role) -> str | None:
    """Kinds a sentence says outright, which the model (few such examples in ACI-BENCH
    train) under-predicts: a dictated heading ("Assessment: ...", "On exam ..."), an
    allergy, a dosing instruction ("Take ibuprofen 400 milligrams three times daily",
    the plan whoever the role labeller took the speaker for), a medication the patient
    takes."""
    if _ALLERGY_TALK.search(low) and not (role is Role.CLINICIAN and _PLAN_CUE.search(low)):
        return "allergies"
    if role is not Role.PATIENT and _dosing_instruction(low):
        return "plan"
    if role is Role.CLINICIAN:
        for kind, pattern in _HEADINGS:
            if pattern.search(low):
                return kind
    elif mentions_medication(low) or _MEDS_TALK.search(low):
        return "medications"  # what the patient says they take
    return None


def _dosing_instruction(low: str) -> bool:
    """An instruction that opens with a verb and names a drug or a dose ("take omeprazole
    20 milligrams daily", "start amoxicillin", "use the inhaler two puffs")."""
    t = tidy(low).lower()
    return bool(_IMPERATIVE.match(t)) and bool(mentions_medication(t) or _DOSE.search(t))


def _settle(kind: str, u: Utterance) -> str:
    """The model's kind, corrected where the sentence says its kind outright (see
    ``_rule_kind``), and with assessment and plan told apart by what the clinician said
    when the sentence cues one and not the other."""
    low = u.text.lower()
    ruled = _rule_kind(low, u.role)
    if ruled is not None:
        return ruled
    if u.role is not Role.CLINICIAN or kind not in ("assessment", "plan", "hpi", "exam", "results", "chief_complaint"):
        return kind
    if _SAFETY_NET.search(low) or (kind in ("hpi", "exam", "chief_complaint") and _IMPERATIVE.match(tidy(low).lower())):
        return "plan"
    a, p = bool(_ASSESSMENT_CUE.search(low) or _states_diagnosis(low)), bool(_PLAN_CUE.search(low))
    if a and not p:
        return "assessment"
    if p and not a and kind == "assessment":
        return "plan"
    return kind


def _section_for(template: Template, kind: str) -> TemplateSection | None:
    for sec in template.sections:
        if kind in sec.kinds:
            return sec
    return None


def _route(c: _Candidate, template: Template) -> TemplateSection | None:
    """The template section a candidate goes to: the first whose ``kinds`` include its
    kind; else, for templates without kinds for it, the section whose cues match best."""
    sec = _section_for(template, c.kind)
    if sec is not None:
        return sec
    low = c.text.lower()
    best: TemplateSection | None = None
    best_score: tuple[float, int] = (0.0, 0)
    for s in template.sections:
        if c.role not in s.roles and c.role is not Role.UNKNOWN:
            continue
        score = sum(len(q.split()) for q in s.cues if re.search(r"(?<![a-z0-9])" + re.escape(q) + r"(?![a-z0-9])", low))
        if score > 0 and (score, s.priority) > best_score:
            best, best_score = s, (score, s.priority)
    if best is not None:
        return best
    for s in template.sections:
        if c.role in s.fallback:
            return s
    return None

