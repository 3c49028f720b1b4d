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
