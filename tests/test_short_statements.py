"""Short statements reach the note's right section: a clinician's short diagnosis the
Assessment, a dosing instruction the Plan and a first-person symptom the Subjective, also
in a visit of two or three lines where every speaker says fewer than
``RoleParams.min_words`` words.

The visits are written to files and read by the transcript reader (CRLF line ends, a
UTF-16 file with its byte-order mark, blank lines), roles assigned as ``scribe draft``
assigns them, and drafted with the shipped section model.
"""

from pathlib import Path

import pytest

from scribe.batch.draft import assign_roles
from scribe.batch.readers import read_transcript
from scribe.notes import draft_note
from scribe.notes.extractive import ExtractiveDrafter
from scribe.notes.templates import load_template
from scribe.speakers.roles import CueRoleLabeller, RoleParams, label_roles
from scribe.types import Note, Role, Segment

from tests.test_drafting import assert_grounded

DRAFTER = ExtractiveDrafter()

HISTORY = "DR: The patient is a 52-year-old male with a three-day history of productive cough.\n"
EXAM = "DR: On examination, lungs have scattered crackles in the right lower lobe.\n"
PLAN = "DR: Plan, start amoxicillin 500 milligrams three times a day for seven days.\n"


def _draft(tmp_path: Path, text: str, template: str = "soap", *, encoding: str = "utf-8", newline: str = "\n"):
    path = tmp_path / "visit.txt"
    data = text.replace("\n", newline)
    path.write_bytes(("\ufeff" + data).encode("utf-16") if encoding == "utf-16" else data.encode(encoding))
    t, _ = assign_roles(read_transcript(path).transcript, CueRoleLabeller())
    note = draft_note(DRAFTER, t, load_template(template))
    assert_grounded(t, note)
    return t, note


def _section(note: Note, sid: str) -> str:
    return " ".join(s.text for sec in note.sections if sec.id == sid for s in sec.sentences)


@pytest.mark.parametrize(
    ("said", "diagnosis"),
    [
        ("Assessment: pneumonia.", "pneumonia"),
        ("Assessment, community acquired pneumonia.", "community acquired pneumonia"),
        ("Assessment: community acquired pneumonia.", "community acquired pneumonia"),
        ("Assessment: acute otitis media.", "acute otitis media"),
        ("Assessment: strep pharyngitis.", "strep pharyngitis"),
        ("Impression: contact dermatitis.", "contact dermatitis"),
        ("This is community acquired pneumonia.", "community acquired pneumonia"),
        ("Likely sciatica.", "sciatica"),
        ("Contact dermatitis.", "contact dermatitis"),
        ("Assessment, uncontrolled hypertension.", "uncontrolled hypertension"),
    ],
)
@pytest.mark.parametrize("template", ["soap", "hp"])
def test_short_diagnosis_is_in_the_assessment(tmp_path, said, diagnosis, template):
    _, note = _draft(tmp_path, HISTORY + EXAM + f"DR: {said}\n" + PLAN, template)
    assert diagnosis in _section(note, "assessment").lower(), note
    assert "amoxicillin 500 milligrams" in _section(note, "plan")


def test_diagnosis_answering_the_parent_is_in_the_assessment(tmp_path):
    _, note = _draft(
        tmp_path,
        "Dr Lee: Hi Sam, hi Mom. What's going on today?\n"
        "Mom: Sam has had a fever of 102 for three days and he's been pulling at his right ear.\n"
        "Sam: My ear hurts.\n"
        "Dr Lee: Let me look. The right tympanic membrane is red and bulging.\n"
        "Mom: Is it an infection? Does he need antibiotics?\n"
        "Dr Lee: Yes, it's an ear infection. Amoxicillin 400 milligrams twice a day for ten days.\n",
    )
    assert _section(note, "assessment") == "It's an ear infection."
    assert "ear infection" not in _section(note, "subjective")


def test_what_is_not_a_diagnosis_is_not_lifted_into_the_assessment(tmp_path):
    """A framed sentence naming no diagnosis ("it's a good idea"), a question about one
    and a history of one stay out of the Assessment."""
    _, note = _draft(
        tmp_path,
        HISTORY
        + "DR: It's a good idea to rest.\n"
        + "DR: Do you have a history of pneumonia?\n"
        + "PT: No, never.\n"
        + PLAN,
    )
    assert _section(note, "assessment") == ""


def test_a_bare_test_result_is_not_a_diagnosis(tmp_path):
    _, note = _draft(
        tmp_path,
        "A: Hi.\n"
        "B: Hi doctor. My throat has been sore for five days and I have a fever of 101.\n"
        "A: Strep positive. Amoxicillin 500 twice daily.\n",
    )
    assert _section(note, "assessment") == ""
    assert "Strep positive." in _section(note, "objective")


SHORT_VISITS = {
    "crlf": ("A: My ankle hurts since Monday.\nB: Take ibuprofen 400 milligrams three times daily.\n", {}, "\r\n"),
    "utf16": ("A: My ankle hurts.\nB: Take ibuprofen 400 milligrams.\n", {"encoding": "utf-16"}, "\n"),
    "blank_lines": (
        "A: hello\n\n\n\nB: hi doctor, my stomach hurts\n\n   \nA: \nB:\nA: take omeprazole 20 milligrams daily\n",
        {},
        "\n",
    ),
}


@pytest.mark.parametrize("name", sorted(SHORT_VISITS))
@pytest.mark.parametrize("template", ["soap", "hp"])
def test_short_visit_dose_in_plan_and_symptom_in_subjective(tmp_path, name, template):
    text, kw, newline = SHORT_VISITS[name]
    t, note = _draft(tmp_path, text, template, newline=newline, **kw)
    clinician = "A" if name == "blank_lines" else "B"
    assert t.speakers[clinician] is Role.CLINICIAN
    assert t.speakers["B" if clinician == "A" else "A"] is Role.PATIENT
    plan = _section(note, "plan")
    assert ("omeprazole 20 milligrams daily" if name == "blank_lines" else "ibuprofen 400 milligrams") in plan.lower()
    history = _section(note, "subjective" if template == "soap" else "hpi").lower()
    assert ("stomach hurts" if name == "blank_lines" else "ankle hurts") in history
    assert "ibuprofen" not in history and "omeprazole" not in history


def test_dosing_instruction_is_plan_whatever_the_roles(tmp_path):
    """Roles left UNKNOWN (no role labeller: the segments go straight to the drafter, as
    the labeller would leave two short speakers with nothing to judge from): the dosing
    instruction is still the plan, the complaint the history."""
    segs = (
        Segment(id="s0", start=0.0, end=2.0, text="My ankle hurts since Monday.", speaker="A", role=Role.UNKNOWN),
        Segment(id="s1", start=2.0, end=4.0, text="Hmm, okay.", speaker="B", role=Role.UNKNOWN),
        Segment(id="s2", start=4.0, end=6.0, text="Take ibuprofen 400 milligrams three times daily.", speaker="B", role=Role.UNKNOWN),
    )
    from scribe.types import Transcript

    t = Transcript(segments=segs, duration=6.0, language="en", speakers={"A": Role.UNKNOWN, "B": Role.UNKNOWN})
    note = DRAFTER.draft(t, load_template("soap"))
    assert "ibuprofen 400 milligrams" in _section(note, "plan")
    assert "ankle hurts" in _section(note, "subjective")


def _seg(i: int, speaker: str, text: str) -> Segment:
    return Segment(id=f"s{i}", start=float(i), end=float(i) + 1.0, text=text, speaker=speaker)


def test_short_visit_roles_rule():
    """Every speaker under min_words: clinician-only content with no patient cue decides;
    content with patient cues, or no content at all, leaves the roles UNKNOWN."""
    assert RoleParams().min_words == 8
    roles = label_roles([_seg(0, "A", "My ankle hurts."), _seg(1, "B", "Take ibuprofen 400 milligrams.")])
    assert roles == {"A": Role.PATIENT, "B": Role.CLINICIAN}
    # a third short speaker is OTHER
    roles = label_roles([_seg(0, "A", "My ankle hurts."), _seg(1, "B", "Take ibuprofen 400 milligrams."), _seg(2, "C", "Okay.")])
    assert roles["B"] is Role.CLINICIAN and roles["A"] is Role.PATIENT and roles["C"] is Role.OTHER
    # the dose is what the speaker takes, not what they tell the other to take
    roles = label_roles([_seg(0, "A", "I take ibuprofen 400 milligrams."), _seg(1, "B", "Okay then.")])
    assert set(roles.values()) == {Role.UNKNOWN}
    roles = label_roles([_seg(0, "A", "Hello."), _seg(1, "B", "Hi there.")])
    assert set(roles.values()) == {Role.UNKNOWN}


def test_vitals_and_exam_findings_said_bare_are_objective(tmp_path):
    _, note = _draft(
        tmp_path,
        "Nurse: Her vitals are stable, temperature 38.5, heart rate 110.\n"
        "Dr: Thanks. Hi, how are you feeling?\n"
        "A: Terrible. I've been vomiting since yesterday and I can't keep anything down.\n"
        "Dr: Any diarrhea or abdominal pain?\n"
        "A: Some cramping but no diarrhea.\n"
        "Dr: Abdomen soft, mildly tender. We'll give ondansetron 4 milligrams and IV fluids.\n",
    )
    objective = _section(note, "objective")
    assert "temperature 38.5, heart rate 110" in objective and "Abdomen soft, mildly tender." in objective
    assert "vomiting" in _section(note, "subjective") and "Abdomen" not in _section(note, "subjective")


def test_terse_follow_up_is_kept(tmp_path):
    """"Return two weeks." (no "in") is a follow-up interval: kept in the Plan, or listed
    as an omission."""
    _, note = _draft(
        tmp_path,
        "A: Hi.\n"
        "B: Hi doctor. So I've had this pain in my lower back for about three weeks now. It started after "
        "I lifted a heavy box at work, and it shoots down my left leg sometimes.\n"
        "A: Straight leg raise positive on the left.\n"
        "A: Likely sciatica. Naproxen 500 twice daily. Physical therapy. Return two weeks.\n",
    )
    assert "Return two weeks." in _section(note, "plan")
    assert "sciatica" in _section(note, "assessment").lower()
