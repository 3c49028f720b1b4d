"""The grounding guard on crafted model output: what a generating drafter gets wrong
(a made-up dose, a swapped side, a dropped "no", an invented drug, a finding from
another visit) is flagged; what was said, in other words, is not."""

import pytest

from scribe.notes.guard import GroundingGuard, normalise_numbers
from scribe.types import Segment

VISIT = (
    Segment("s0", 0, 4, "My right knee has been hurting since Monday.", speaker="B"),
    Segment("s1", 4, 6, "Any fever or chills?", speaker="A"),
    Segment("s2", 6, 7, "No.", speaker="B"),
    Segment("s3", 7, 11, "There is no swelling, but it is tender on the inside of the knee.", speaker="A"),
    Segment("s4", 11, 15, "Start meloxicam fifteen milligrams once a day with food.", speaker="A"),
    Segment("s5", 15, 18, "Blood pressure is one thirty over eighty.", speaker="A"),
)
GUARD = GroundingGuard()


@pytest.mark.parametrize(
    "sentence, evidence",
    [
        ("Right knee pain since Monday.", ("s0",)),
        ("Denies fever or chills.", ("s1", "s2")),
        ("Start meloxicam 15 mg daily with food.", ("s4",)),  # words and digits alike
        ("Blood pressure 130/80.", ("s5",)),
        ("No swelling; tender on the inside of the knee.", ("s3",)),
        ("Denies fever.", ("s1", "s2")),  # a symptom the visit names
    ],
)
def test_what_was_said_is_supported(sentence, evidence):
    got = GUARD.check(sentence, VISIT)
    assert got.supported, got
    assert got.evidence == evidence


@pytest.mark.parametrize(
    "sentence, problem",
    [
        ("Start meloxicam 20 mg daily with food.", "number 20 not said"),  # a made-up dose
        ("Left knee pain since Monday.", "side left not said"),  # a swapped side
        ("There is swelling of the knee.", "drops the no on swell"),  # a dropped "no"
        ("Reports fever and chills.", "drops the no on chill, fever"),  # "No." to the question
        ("Start ibuprofen 15 mg daily with food.", "drug ibuprofen not named"),
        # a drug whose stem the list does not know (hydrocortison), found by gemma3-270m
        ("Start hydrocortisone 15 mg daily with food.", "drug hydrocortisone not named"),
        ("Start prednisone 15 mg daily with food.", "drug prednisone not named"),
        ("Start meloxicam fifteen milligrams twice a day with food.", "number 2 not said"),  # "once a day"
        ("Denies knee pain.", "negation not said"),
        # a symptom the visit never names, on enough covered words to pass coverage (the
        # case gemma3-270m found: "Cough for three days." in a visit without a cough)
        ("Knee cough since Monday.", "symptom cough not said in the visit"),
    ],
)
def test_crafted_errors_are_flagged(sentence, problem):
    got = GUARD.check(sentence, VISIT)
    assert not got.supported
    assert problem in got.problems, got


def test_a_sentence_from_another_visit_has_no_support():
    got = GUARD.check("Chest pain radiating to the left jaw with diaphoresis.", VISIT)
    assert not got.supported and got.coverage < GUARD.threshold


def test_spoken_numbers_and_units_read_as_written():
    assert normalise_numbers("Fifteen milligrams, 1,000 Milligrams, one twenty over eighty, twenty-five pounds") == (
        "15 mg, 1000 mg, 120/80, 25 lb"
    )


def test_a_spoken_dose_is_carried_by_its_digits():
    # A model drafter writes "15 mg" for "fifteen milligrams": not an omission.
    from scribe.notes.omissions import find_omissions
    from scribe.types import Note, NoteSection, NoteSentence, Transcript

    t = Transcript(VISIT, 18.0, "en")
    note = Note("hp", "t", "1", (NoteSection("plan", "Plan", (NoteSentence("Start meloxicam 15 mg daily.", ("s4",)),)),))
    assert not [o for o in find_omissions(t, note) if o.kind == "medication"]
    wrong = Note("hp", "t", "1", (NoteSection("plan", "Plan", (NoteSentence("Start meloxicam 20 mg daily.", ("s4",)),)),))
    assert [o.text for o in find_omissions(t, wrong) if o.kind == "medication"] == ["meloxicam fifteen milligrams"]
