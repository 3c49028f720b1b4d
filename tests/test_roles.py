import pytest

from scribe.speakers.roles import RoleParams, apply_roles, label_roles
from scribe.types import Role, Segment

from tests.dialogues import DICTATION, THREE_SPEAKERS, TWO_SPEAKERS, VOICE_MEMO, transcript


def test_two_speakers_patient_speaks_first():
    roles = label_roles(transcript(TWO_SPEAKERS).segments)
    assert roles == {"X": Role.PATIENT, "Y": Role.CLINICIAN}


def test_three_speakers_relative_is_other():
    roles = label_roles(transcript(THREE_SPEAKERS).segments)
    assert roles == {"A": Role.CLINICIAN, "B": Role.PATIENT, "C": Role.OTHER}


def test_exactly_one_clinician_and_one_patient():
    roles = label_roles(transcript(THREE_SPEAKERS).segments)
    assert list(roles.values()).count(Role.CLINICIAN) == 1
    assert list(roles.values()).count(Role.PATIENT) == 1


def test_single_speaker_dictation_is_clinician():
    assert label_roles(transcript(DICTATION).segments) == {"D": Role.CLINICIAN}


def test_single_speaker_symptoms_is_patient():
    assert label_roles(transcript(VOICE_MEMO).segments) == {"P": Role.PATIENT}


def test_unpunctuated_asr_text():
    # ASR output without any punctuation or capitals still gives questions away.
    turns = [
        ("A", "so what brings you in today how long has this been going on"),
        ("B", "my back has been hurting for about two weeks i've been taking advil"),
        ("A", "okay does it hurt when i press here let me examine your back"),
        ("B", "yeah it hurts right there"),
        ("A", "alright i'd recommend physical therapy and we'll follow up in a month"),
    ]
    assert label_roles(transcript(turns).segments) == {"A": Role.CLINICIAN, "B": Role.PATIENT}


def test_speakerless_segments_ignored_and_empty():
    assert label_roles([]) == {}
    assert label_roles([Segment(id="s0", start=0, end=1, text="hello there")]) == {}


def test_brief_extra_speaker_is_other():
    turns = TWO_SPEAKERS + [("Z", "Sorry, wrong room.")]
    roles = label_roles(transcript(turns).segments)
    assert roles["Z"] is Role.OTHER


def test_apply_roles_returns_new_transcript():
    t = transcript(TWO_SPEAKERS)
    labelled = apply_roles(t)
    assert labelled is not t
    assert all(s.role is Role.UNKNOWN for s in t.segments)  # original untouched
    assert labelled.speakers == {"X": Role.PATIENT, "Y": Role.CLINICIAN}
    assert all(s.role is labelled.speakers[s.speaker] for s in labelled.segments)
    assert [s.id for s in labelled.segments] == [s.id for s in t.segments]


def test_params_are_frozen_and_tunable():
    p = RoleParams(question=2.0)
    assert p.question == 2.0
    try:
        p.question = 3.0  # type: ignore[misc]
    except Exception:
        pass
    else:
        raise AssertionError("RoleParams must be frozen")


# --- issue 14: roles robust to who asks the questions ---------------------------------

# The inverted visit: the patient asks every question, the clinician answers,
# diagnoses and prescribes. Before the fix, questions were the clinician's strongest cue
# and "Take one tablet of amoxicillin 500 milligrams..." landed as "Patient reports".
PATIENT_ASKS = [
    ("P", "Hi. So what did the test show? Is it strep? Is it serious? Do I need antibiotics?"),
    ("C", "It came back positive, so yes, it's strep throat."),
    ("P", "Is it contagious? Can my kids catch it? When can I go back to work?"),
    ("C", "After a day on the antibiotic you can go back."),
    ("P", "What do I take? How often? Does it matter if I eat first?"),
    ("C", "Take one tablet of amoxicillin 500 milligrams twice a day for ten days, with or without food."),
    ("P", "What if I forget one? And what about the pain, can I take something for it?"),
    ("C", "Take the missed one when you remember. Ibuprofen is fine for the pain."),
    ("P", "Okay. And if it doesn't get better, do I come back? Should I call?"),
    ("C", "Call us if the fever isn't gone in three days."),
    ("P", "Okay, thank you."),
]

# A patient and her son, the son asking most of the questions; he is OTHER, never the
# clinician (issue 14: the son's lines were labelled clinician and landed in the Plan).
SON_ASKS = [
    ("C", "Hello, I'm doctor Shah. What brings you in?"),
    ("P", "I've been dizzy for a week. When I stand up the room spins."),
    ("S", "Mom, tell her about the fall. She fell in the kitchen on Sunday. What do you think "
     "is causing it? Is it her new pill? Should she stop it? Does she need a scan?"),
    ("C", "Your blood pressure drops from 138 to 108 when you stand. This is orthostatic "
     "hypotension. Stop the hydrochlorothiazide and drink two liters of fluid a day."),
    ("S", "Is she safe to drive? What if she falls again? She lives alone since my dad died."),
    ("C", "No driving until we recheck your pressure in two weeks."),
    ("P", "Okay, thank you."),
]


def _asr(turns):
    """The same turns as unpunctuated, lower-case ASR text."""
    return [(s, " ".join(t.lower().replace("?", " ").replace(".", " ").replace(",", " ").split())) for s, t in turns]


def test_patient_who_asks_the_questions_is_still_the_patient():
    assert label_roles(transcript(PATIENT_ASKS).segments) == {"P": Role.PATIENT, "C": Role.CLINICIAN}
    assert label_roles(transcript(_asr(PATIENT_ASKS)).segments) == {"P": Role.PATIENT, "C": Role.CLINICIAN}


def test_prescription_is_not_drafted_as_patient_reports():
    from scribe.notes import draft_note
    from scribe.notes.extractive import ExtractiveDrafter
    from scribe.notes.templates import load_template

    note = draft_note(ExtractiveDrafter(), transcript(PATIENT_ASKS), load_template("hp"))
    said = [s.text for s in note.sentences() if "amoxicillin" in s.text.lower()]
    assert said, "the prescription is in the note"
    assert not any(t.lower().startswith("patient reports") for t in said), said


def test_companion_who_asks_questions_is_other():
    for turns in (SON_ASKS, _asr(SON_ASKS)):
        assert label_roles(transcript(turns).segments) == {"C": Role.CLINICIAN, "P": Role.PATIENT, "S": Role.OTHER}


# A mother speaking for her baby, who says nothing (as in ACI-BENCH valid D2N076), and an
# interpreting daughter whose mother says a few words: both OTHER, never clinician.
MOTHER_FOR_BABY = [
    ("D", "Hi, I'm doctor Rao. What brings you and the little one in today?"),
    ("M", "She has had a fever since Tuesday and she is pulling at her ear. She won't eat and "
     "she cries when she lies down. Her brother had an ear infection last month."),
    ("D", "Let me look in her ears. The right eardrum is red and bulging. This is an ear infection."),
    ("M", "Does she need antibiotics? Can she go to daycare? Is her fever dangerous?"),
    ("D", "Give her amoxicillin 400 milligrams twice a day for ten days, and children's "
     "ibuprofen every six hours as needed for the fever."),
    ("M", "Okay. She should be better by Friday then? Thank you."),
]

INTERPRETER = [
    ("D", "Good afternoon, I'm doctor Kim. Please ask your mom where it hurts."),
    ("I", "She says it hurts here, on the right, since Sunday. She wants to know if it is her "
     "gallbladder. Her sister had gallstones. Does she need surgery?"),
    ("P", "Sí, aquí me duele."),
    ("D", "She is tender in the right upper abdomen. I want an ultrasound of the gallbladder today."),
    ("I", "Can she eat? Should she stop her pills? She says thank you."),
]


def test_relative_speaking_for_the_patient_is_other():
    assert label_roles(transcript(MOTHER_FOR_BABY).segments) == {"D": Role.CLINICIAN, "M": Role.OTHER}
    assert label_roles(transcript(INTERPRETER).segments) == {"D": Role.CLINICIAN, "I": Role.OTHER, "P": Role.PATIENT}
    # With the clinician known from an enrolled voice, the same.
    assert label_roles(transcript(INTERPRETER).segments, known={"D": Role.CLINICIAN}) == {
        "D": Role.CLINICIAN, "I": Role.OTHER, "P": Role.PATIENT,
    }


def test_question_kinds():
    from scribe.speakers.roles import question_kinds

    assert question_kinds("Should I take it with food? What if I forget a dose?") == (0, 2, 0)
    assert question_kinds("Any fever or chills? Do you smoke?") == (2, 0, 0)
    assert question_kinds("so what brings you in today") == (1, 0, 0)
    assert question_kinds("Is it strep?") == (0, 0, 1)


# --- known roles (an enrolled clinician's voice) are kept --------------------------------


def test_known_clinician_kept_against_the_words():
    # The words alone make Y the clinician; a voice match says X is.
    roles = label_roles(transcript(TWO_SPEAKERS).segments, known={"X": Role.CLINICIAN})
    assert roles == {"X": Role.CLINICIAN, "Y": Role.PATIENT}


def test_known_clinician_words_decide_patient_and_companion():
    roles = label_roles(transcript(THREE_SPEAKERS).segments, known={"A": Role.CLINICIAN})
    assert roles == {"A": Role.CLINICIAN, "B": Role.PATIENT, "C": Role.OTHER}
    roles = label_roles(transcript(SON_ASKS).segments, known={"C": Role.CLINICIAN})
    assert roles == {"C": Role.CLINICIAN, "P": Role.PATIENT, "S": Role.OTHER}


def test_known_patient_only_words_pick_the_clinician():
    roles = label_roles(transcript(THREE_SPEAKERS).segments, known={"C": Role.PATIENT})
    assert roles == {"A": Role.CLINICIAN, "C": Role.PATIENT, "B": Role.OTHER}


def test_apply_roles_keeps_transcript_speakers():
    from dataclasses import replace

    t = replace(transcript(TWO_SPEAKERS), speakers={"X": Role.CLINICIAN})
    labelled = apply_roles(t)
    assert labelled.speakers == {"X": Role.CLINICIAN, "Y": Role.PATIENT}
    assert all(s.role is labelled.speakers[s.speaker] for s in labelled.segments)
    # UNKNOWN is not a known role: the words decide.
    t = replace(transcript(TWO_SPEAKERS), speakers={"X": Role.UNKNOWN})
    assert apply_roles(t).speakers == {"X": Role.PATIENT, "Y": Role.CLINICIAN}


def test_cue_labeller_backend_keeps_known_roles():
    from dataclasses import replace

    from scribe.speakers import ROLE_LABELLERS

    labeller = ROLE_LABELLERS.resolve("cues")()
    t = replace(transcript(PATIENT_ASKS), speakers={"C": Role.CLINICIAN})
    assert labeller.label(t).speakers == {"C": Role.CLINICIAN, "P": Role.PATIENT}
    assert labeller.label(transcript(PATIENT_ASKS)).speakers == {"C": Role.CLINICIAN, "P": Role.PATIENT}


# --- ACI-BENCH valid (never fitted to) and the hand-written hard set ---------------------


@pytest.fixture(scope="module")
def role_benchmark():
    from scribe.scoring import shared_data

    if not (shared_data() / "aci-bench" / "valid.csv").exists():
        pytest.skip("ACI-BENCH not in the shared data")
    from benchmarks.roles import aci_cases, hard_cases, score

    return score(aci_cases("valid")), score(hard_cases())


def test_valid_role_accuracy(role_benchmark):
    valid, _ = role_benchmark
    # Measured (benchmarks/results/roles.json): 20/20 dialogues and every word right on
    # aci; before issue 14's change 19/20 and 0.973 of words (the mother speaking for her
    # baby in D2N076 was PATIENT). Bounds: one dialogue of margin.
    assert valid["aci"]["dialogues_right"] >= 19
    assert valid["aci"]["word_accuracy"] >= 0.97
    # Clinician questions dropped: 20/20 measured (before 19/20).
    assert valid["aci-no-clinician-questions"]["dialogues_right"] >= 19
    # One-minute windows without clinician questions: 84/92 = 0.913 measured, before 82/92
    # = 0.891; bound 0.90, one window of margin (the misses are all D2N076's windows).
    assert valid["aci-no-clinician-questions-windows"]["dialogue_accuracy"] >= 0.90
    # A companion never takes a role from the patient or the clinician: 19/19 measured.
    assert valid["aci-companion"]["dialogues_right"] == valid["aci-companion"]["dialogues"]


def test_hard_set_all_right(role_benchmark):
    # Patient-asks visits (also as ASR text) and the samples: 17/17 measured, 12/17 before;
    # the later-written visits 8/8 (2/8 before).
    _, hard = role_benchmark
    assert hard["hard"]["wrong"] == []
    assert hard["hard-heldout"]["wrong"] == []
