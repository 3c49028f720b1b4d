"""Hand-written visit dialogues (text only, no audio) shared by the role and drafting tests."""

from __future__ import annotations

from scribe.types import Segment, Transcript


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
