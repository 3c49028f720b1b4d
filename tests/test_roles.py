from scribe.roles import RoleParams, apply_roles, label_roles
from scribe.types import Role, Segment, Transcript

# Hand-written visit dialogues (text only; no audio).
def transcript(turns: list[tuple[str, str]]) -> Transcript:
    segs, t = [], 0.0
    for i, (speaker, text) in enumerate(turns):
        d = 0.4 * max(1, len(text.split()))
        segs.append(Segment(id=f"s{i}", start=t, end=t + d, text=text, speaker=speaker))
        t += d
    return Transcript(segments=tuple(segs), duration=t, language="en")


# Speaker names deliberately do not reveal roles, and the patient speaks first.
TWO_SPEAKERS = [
    ("X", "Hello."),
    ("Y", "Hi, I'm Dr. Patel. Nice to meet you. What brings you in today?"),
    ("X", "I have had a cough for a week and my chest hurts when I breathe."),
    ("Y", "Any fever or chills?"),
    ("X", "No."),
    ("Y", "Are you taking any medications?"),
    ("X", "I've been taking ibuprofen 400 mg twice a day for the chest pain."),
    ("Y", "Okay. Let me examine you. Take a deep breath."),
    ("Y", "Your lungs have some wheezes on the left side. Your temperature is normal."),
    ("X", "Mm-hmm."),
    ("Y", "I think this is most likely acute bronchitis."),
    ("Y", "I'd recommend rest and fluids. We'll order a chest x-ray and follow up in two weeks."),
    ("X", "Okay, thank you."),
    ("Y", "Thank you, take care."),
]

# A daughter comes with her father; the clinician speaks to both.
THREE_SPEAKERS = [
    ("A", "Good morning, I'm Dr. Lee. What brings you in today?"),
    ("B", "My knee hurts a lot. I've been limping since last Tuesday."),
    ("C", "He fell in the garden. She told him to rest but he is stubborn. My dad never listens."),
    ("A", "Did you hit your knee when you fell?"),
    ("B", "Yes, I landed right on my knee and it has been swollen since."),
    ("A", "Let me examine your knee. There is tenderness and swelling over the kneecap."),
    ("C", "He has been taking his blood pressure pills, his doctor changed them last month."),
    ("A", "We'll order an x-ray of your knee and I'd recommend ice and rest."),
    ("B", "Okay, thanks doctor."),
]

# A clinician dictating after the visit.
DICTATION = [
    ("D", "Next patient is John Smith, date of birth March 3rd 1960."),
    ("D", "He presents with three weeks of lower back pain after lifting boxes."),
    ("D", "On exam there is tenderness over the lumbar spine with normal reflexes."),
    ("D", "Plan is physical therapy and follow up in four weeks."),
]

# A patient recording a symptom diary.
VOICE_MEMO = [
    ("P", "I've been feeling dizzy since this morning and my head hurts."),
    ("P", "I took two tylenol and I have had some nausea too."),
]


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
