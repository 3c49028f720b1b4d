"""The embedded drafter: grounded, concise, in clinical style, in the right sections.

Hand-written dialogues (tests/dialogues.py) for behaviour; ACI-BENCH *valid* dialogues
(real consultations, read, never fitted) for the invariants on real speech.
"""

import csv
import re

import pytest

from scribe.notes import Drafter, draft_note
from scribe.notes.extractive import ExtractiveDrafter
from scribe.notes.grounding import grounding_problems
from scribe.notes.restate import HE, PATIENT, SHE, THEY, patient_person, to_third_person, tidy
from scribe.notes.templates import available_templates, load_template
from scribe.notes.train import aci_transcript, with_predicted_roles
from scribe.notes.utterances import repair_spacing, utterances
from scribe.scoring import shared_data
from scribe.speakers.roles import apply_roles
from scribe.types import Note, NoteSection, NoteSentence, Role, Segment, Transcript

from tests.dialogues import DICTATION, THREE_SPEAKERS, TWO_SPEAKERS, transcript

DRAFTER = ExtractiveDrafter()


def draft(turns, template="soap") -> tuple[Transcript, Note]:
    t = apply_roles(transcript(turns))
    return t, draft_note(DRAFTER, t, load_template(template))


def section_text(note: Note, sid: str) -> str:
    return " ".join(s.text for sec in note.sections if sec.id == sid for s in sec.sentences)


def all_text(note: Note) -> str:
    return " ".join(s.text for s in note.sentences())


def assert_grounded(t: Transcript, note: Note) -> None:
    by_id = {s.id: s.text for s in t.segments}
    for s in [*note.sentences(), *note.instructions]:
        assert s.evidence, s
        assert all(e in by_id for e in s.evidence), s
        problems = grounding_problems(s.text, [by_id[e] for e in s.evidence])
        assert not problems, f"{s.text!r}: {problems}"


def aci_valid() -> list[dict[str, str]]:
    path = shared_data() / "aci-bench" / "valid.csv"
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_is_a_drafter():
    d: Drafter = DRAFTER
    assert d.name == "extractive" and d.version.startswith("0.3.0+m")


@pytest.mark.parametrize("template", available_templates())
@pytest.mark.parametrize("turns", [TWO_SPEAKERS, THREE_SPEAKERS, DICTATION])
def test_every_word_is_grounded_in_its_evidence(turns, template):
    t, note = draft(turns, template)
    assert not note.is_empty
    assert_grounded(t, note)


def test_grounding_holds_on_real_consultations():
    # Twenty real ACI-BENCH valid consultations, ASR-style and dictated: every sentence
    # of the note and of the instructions is said in the segments it cites.
    for row in aci_valid():
        t = with_predicted_roles(aci_transcript(row["dialogue"])[0])
        note = draft_note(DRAFTER, t, load_template("hp"))
        assert_grounded(t, note)


def test_soap_note_is_clinical_and_concise():
    _, note = draft(TWO_SPEAKERS)
    assert note.template == "soap" and note.loinc == "11506-3" and note.status == "preliminary"
    subj = section_text(note, "subjective")
    # Third person, not "I have had a cough".
    assert "The patient has had a cough for a week" in subj
    assert "Patient reports" not in subj and not re.search(r"\bI\b", subj)
    # A negated symptom is written as a denial.
    assert "Denies fever or chills." in subj
    assert "ibuprofen 400 mg twice a day" in subj  # drug and dose together, verbatim
    assert "wheezes" in section_text(note, "objective")
    assert "bronchitis" in section_text(note, "assessment")
    plan = section_text(note, "plan")
    assert "chest x-ray" in plan and "two weeks" in plan
    # Exam instructions and pleasantries never reach the note.
    text = all_text(note).lower()
    for said in ("deep breath", "nice to meet", "thank you", "take care", "let me examine"):
        assert said not in text


def test_brief_and_full_verbosity():
    row = aci_valid()[0]
    t = with_predicted_roles(aci_transcript(row["dialogue"])[0])
    brief = draft_note(DRAFTER, t, load_template("soap"))
    full = draft_note(DRAFTER, t, load_template("hp"))
    n_brief = len(all_text(brief).split())
    n_full = len(all_text(full).split())
    assert 60 <= n_brief <= 200, n_brief
    assert 250 <= n_full <= 520, n_full


def test_no_unsaid_diagnosis():
    turns = [(s, x) for s, x in TWO_SPEAKERS if "bronchitis" not in x]
    _, note = draft(turns)
    assert "bronchitis" not in all_text(note).lower()


def test_duplicates_removed():
    turns = TWO_SPEAKERS + [("X", "I have had a cough for a week and my chest hurts when I breathe.")]
    _, note = draft(turns)
    assert sum("cough for a week" in s.text for s in note.sentences()) == 1


@pytest.mark.parametrize("template", available_templates())
def test_empty_transcript_gives_empty_note(template):
    tpl = load_template(template)
    for t in (
        Transcript(segments=(), duration=0.0, language="en"),
        transcript([("A", "Okay."), ("B", "Mm-hmm."), ("A", "Thank you.")]),
    ):
        note = draft_note(DRAFTER, t, tpl)
        assert note.is_empty and not note.instructions and not note.omissions
        assert [s.id for s in note.sections] == [s.id for s in tpl.sections]
        assert all(s.empty_text for s in note.sections)


def test_roles_applied_when_missing():
    t = transcript(TWO_SPEAKERS)  # roles UNKNOWN, as the diarizer hands it over
    note = DRAFTER.draft(t, load_template("soap"))
    assert "cough for a week" in section_text(note, "subjective")


def test_deterministic():
    assert draft(THREE_SPEAKERS)[1] == draft(THREE_SPEAKERS)[1]


def test_hp_sections_and_chief_complaint():
    _, note = draft(DICTATION, "hp")
    assert section_text(note, "chief_complaint") == "Three weeks of lower back pain after lifting boxes."
    assert "tenderness over the lumbar spine" in section_text(note, "physical_exam")
    assert "physical therapy" in section_text(note, "plan")
    assert note.loinc == "34117-2"


def test_sentences_rebuilt_across_recogniser_breaks():
    # Whisper cut the plan mid-phrase and the patient said "mm-hmm" in between.
    segs = (
        Segment("s0", 0.0, 2.0, "What brings you in today?", speaker="A", role=Role.CLINICIAN),
        Segment("s1", 2.0, 5.0, "My sugars have been high.", speaker="B", role=Role.PATIENT),
        Segment("s2", 5.0, 8.0, "Your A1c is 7 .8 %, so we will increase metformin to.", speaker="A", role=Role.CLINICIAN),
        Segment("s3", 8.0, 8.5, "Mm-hmm.", speaker="B", role=Role.PATIENT),
        Segment("s4", 8.5, 11.0, "1000 milligrams twice a day and follow -up in 2 -3 weeks.", speaker="A", role=Role.CLINICIAN),
    )
    utts = utterances(segs)
    texts = [u.text for u in utts]
    joined = [u for u in utts if "metformin" in u.text]
    assert len(joined) == 1 and "metformin to 1000 milligrams twice a day" in joined[0].text, texts
    assert joined[0].evidence == ("s2", "s4")
    assert "7.8%" in " ".join(texts) and "follow-up in 2-3 weeks" in " ".join(texts)
    assert not any(t.rstrip(".").endswith(" to") for t in texts)


def test_repair_spacing_adds_no_words():
    assert repair_spacing("7 .8 % and follow -up in 2 -3 weeks , i do n't") == "7.8% and follow-up in 2-3 weeks, i don't"


def test_third_person():
    assert to_third_person("i have had a cough and my chest hurts", SHE, speaker_is_patient=True) == (
        "she has had a cough and her chest hurts"
    )
    assert to_third_person("i take my pills and i'm tired", HE, speaker_is_patient=True) == (
        "he takes his pills and he is tired"
    )
    assert to_third_person("we will refer you and you should rest your knee", THEY, speaker_is_patient=False) == (
        "we will refer them and they should rest their knee"
    )


def test_patient_person_from_what_the_clinician_said():
    assert patient_person("james is a 57-year-old male who presents") is HE
    assert patient_person("she is a 40-year-old female") is SHE
    assert patient_person("how are you doing today") is PATIENT


def test_tidy_drops_disfluency_only():
    assert tidy("okay , so um i f- felt the , the pop , you know") == "i felt the pop"


def test_instructions_are_the_plan_in_the_second_person():
    t, note = draft(TWO_SPEAKERS)
    assert note.instructions
    text = " ".join(s.text for s in note.instructions)
    assert "rest and fluids" in text and "follow up in two weeks" in text
    assert_grounded(t, note)


def test_omissions_list_what_the_note_left_out():
    # A brief note cannot carry everything: what it leaves out is listed with evidence.
    row = aci_valid()[0]
    t = with_predicted_roles(aci_transcript(row["dialogue"])[0])
    note = draft_note(DRAFTER, t, load_template("soap"))
    assert note.omissions
    text = all_text(note).lower()
    ids = t.segment_ids()
    for o in note.omissions:
        assert o.kind in ("symptom", "medication", "allergy", "number", "follow-up")
        assert o.evidence and set(o.evidence) <= ids
        said = repair_spacing(" ".join(s.text.lower() for s in t.segments if s.id in o.evidence))
        assert o.text.split()[0] in said
        assert o.text not in text or o.kind in ("number", "medication")
    # The full note carries more of the facts than the brief one.
    full = draft_note(DRAFTER, t, load_template("hp"))
    assert len(full.omissions) < len(note.omissions)


def test_omission_kinds():
    segs = (
        Segment("s0", 0, 3, "I'm allergic to penicillin and I've had a fever.", speaker="B", role=Role.PATIENT),
        Segment("s1", 3, 6, "Start lisinopril 10 milligrams daily, blood pressure is 150 over 90.", speaker="A", role=Role.CLINICIAN),
        Segment("s2", 6, 9, "Follow up in two weeks.", speaker="A", role=Role.CLINICIAN),
    )
    t = Transcript(segs, 9.0, "en")
    empty = Note("soap", "t", "1", ())
    from scribe.notes.omissions import find_omissions

    found = {(o.kind, o.text) for o in find_omissions(t, empty)}
    assert {
        ("allergy", "penicillin"),
        ("symptom", "fever"),
        ("medication", "lisinopril 10 milligrams"),  # the dose goes with its drug
        ("number", "150 over 90"),
        ("follow-up", "two weeks"),
    } <= found
    assert ("number", "10 milligrams") not in found


def test_no_known_allergies_is_not_an_allergy_and_stems_carry_symptoms():
    from scribe.notes.omissions import find_omissions

    segs = (
        Segment("s0", 0, 3, "I'm not allergic to anything. I have been vomiting since Monday.", speaker="B", role=Role.PATIENT),
        Segment("s1", 3, 6, "Take metformin 500 milligrams with dinner.", speaker="A", role=Role.CLINICIAN),
    )
    t = Transcript(segs, 6.0, "en")
    note = Note("soap", "t", "1", (NoteSection("s", "S", (NoteSentence("The patient vomited since Monday.", ("s0",)),)),))
    found = {(o.kind, o.text) for o in find_omissions(t, note)}
    assert found == {("medication", "metformin 500 milligrams")}


def test_unstated_sex_is_the_patient_then_they():
    assert to_third_person("i have had a cough and i'm tired", PATIENT, speaker_is_patient=True) == (
        "the patient has had a cough and they are tired"
    )


def _clinic(turns):
    """A labelled visit: ("D", text) is the clinician, ("P", text) the patient."""
    role = {"D": Role.CLINICIAN, "P": Role.PATIENT, "M": Role.OTHER}
    t = transcript(turns)
    segs = tuple(Segment(s.id, s.start, s.end, s.text, speaker=s.speaker, role=role[s.speaker]) for s in t.segments)
    return Transcript(segs, t.duration, "en")


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("No.", "Denies leg swelling."),
        ("Absolutely not.", "Denies leg swelling."),
        ("Definitely not.", "Denies leg swelling."),
        ("Yes.", "Endorses leg swelling."),
        ("I'm not sure.", None),
        ("No swelling, but my calf hurts.", None),
    ],
)
def test_yes_no_answers_keep_their_meaning(answer, expected):
    t = _clinic([("D", "Any leg swelling?"), ("P", answer)])
    note = draft_note(DRAFTER, t, load_template("hp"))
    found = [s.text for s in note.sentences() if s.text.startswith(("Denies", "Endorses"))]
    assert found == ([expected] if expected else []), found
    assert_grounded(t, note)


def test_grounding_check_sees_meaning_changes():
    assert grounding_problems("Endorses leg swelling.", ["Any leg swelling?", "Absolutely not."])
    assert grounding_problems("Denies leg swelling.", ["Any leg swelling?", "Yes."])
    assert grounding_problems("The patient is not allergic to penicillin.", ["I am allergic to penicillin."])
    assert grounding_problems("Their potassium was 3.3.3 last week.", ["Your potassium was 3.3, 3.3 last week."])
    assert not grounding_problems("Increase metformin to 1,000 milligrams.", ["increase metformin to 1000 milligrams"])


def test_medical_words_that_look_like_filler_are_kept():
    # "ER" (emergency room, extended release), "mm", laterality and "great toe".
    assert tidy("go to the ER right away") == "go to the ER right away"
    assert tidy("naproxen ER 750 milligrams") == "naproxen ER 750 milligrams"
    assert tidy("a lung nodule that is 6 mm") == "a lung nodule that is 6 mm"
    assert tidy("Right knee has a large effusion") == "Right knee has a large effusion"
    assert tidy("Great toe is red and hot") == "Great toe is red and hot"
    assert tidy("Well controlled on metformin") == "Well controlled on metformin"
    assert tidy("Your potassium was 3.3, 3.3 last week") == "Your potassium was 3.3, 3.3 last week"
    assert tidy("Right, so, um, your knee") == "your knee"


def test_a_diagnosis_keeps_its_doubt_and_its_section():
    t = _clinic(
        [
            ("D", "What brings you in?"),
            ("P", "I twisted my ankle playing soccer yesterday and it is swollen."),
            ("D", "On exam there is swelling over the lateral ankle."),
            ("D", "I think you have an ankle sprain, but I want an x-ray to rule out a fracture."),
            ("D", "If the pain gets worse or you cannot walk on it, go to the ER right away."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    assessment = section_text(note, "assessment") + section_text(note, "plan")
    assert "I think they have an ankle sprain" in assessment or "I think the patient has an ankle sprain" in assessment
    assert "go to the ER right away" in section_text(note, "plan")
    assert any("go to the ER right away" in s.text for s in note.instructions)
    assert_grounded(t, note)


def test_dictated_headings_find_their_sections():
    t = _clinic(
        [
            ("D", "Mr. Brown is a 62-year-old man seen for follow-up of type 2 diabetes."),
            ("D", "On exam blood pressure is 138 over 84 and feet have intact sensation."),
            ("D", "Assessment: type 2 diabetes, not at goal with an A1c of 8.1."),
            ("D", "Plan: increase metformin to 1000 milligrams twice a day and recheck the A1c in 3 months."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    assert "138 over 84" in section_text(note, "physical_exam")
    assert "not at goal" in section_text(note, "assessment")
    assert "metformin to 1000 milligrams twice a day" in section_text(note, "plan")
    assert "He" in all_text(note) or "62-year-old man" in all_text(note)
    assert_grounded(t, note)


def test_allergies_and_medications_have_their_sections():
    t = _clinic(
        [
            ("D", "Do you have any allergies to medicines?"),
            ("P", "I'm allergic to penicillin, it gives me hives."),
            ("D", "What medications are you taking?"),
            ("P", "I take lisinopril 10 milligrams every morning."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    assert "penicillin" in section_text(note, "allergies")
    assert "lisinopril 10 milligrams" in section_text(note, "medications")


def test_titles_state_the_patients_sex():
    assert patient_person("good morning mrs. garcia, how are you") is SHE
    assert patient_person("hello mr. brown") is HE
    # The first stated age and sex is the patient's, not the husband's after it.
    assert patient_person("she is a 67-year-old woman; her husband is a 70-year-old man") is SHE


def test_object_you_and_the_patients_you():
    assert to_third_person("we will switch you to losartan", SHE, speaker_is_patient=False) == (
        "we will switch her to losartan"
    )
    assert to_third_person("I don't think you need antibiotics", HE, speaker_is_patient=False) == (
        "I don't think he needs antibiotics"
    )
    # A patient's "you" is the clinician: left as said.
    assert to_third_person("You told me to take it", SHE, speaker_is_patient=True) == "You told her to take it"


def test_a_new_line_with_a_capital_is_a_new_sentence():
    segs = (
        Segment("s0", 0, 1, "That might be what is happening", speaker="A", role=Role.CLINICIAN),
        Segment("s1", 1, 2, "Switch you to losartan 50 milligrams", speaker="A", role=Role.CLINICIAN),
        Segment("s2", 2, 3, "with food.", speaker="A", role=Role.CLINICIAN),
        Segment("s3", 3, 4, "Your cardiologist started you on", speaker="A", role=Role.CLINICIAN),
        Segment("s4", 4, 5, "Eliquis 5 milligrams twice a day.", speaker="A", role=Role.CLINICIAN),
    )
    assert [u.text for u in utterances(segs)] == [
        "That might be what is happening.",
        "Switch you to losartan 50 milligrams with food.",
        # A line cut after "on" goes on, capital or not (a drug's brand name).
        "Your cardiologist started you on Eliquis 5 milligrams twice a day.",
    ]


def test_exam_instructions_never_reach_the_note_or_the_instructions():
    t = _clinic(
        [
            ("P", "My belly has hurt for two days."),
            ("D", "Press on your belly for me. Does that hurt?"),
            ("P", "Yes, on the right side."),
            ("D", "I'm just going to take your vitals."),
            ("D", "We'll get an ultrasound of your belly today."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("soap"))
    text = (all_text(note) + " " + " ".join(s.text for s in note.instructions)).lower()
    assert "press on" not in text and "take your vitals" not in text and "take their vitals" not in text


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("No fever.", ["Denies fever."]),  # only what the answer names
        ("No, no fever.", ["Denies fever."]),
        ("I don't think so.", []),  # hedged: neither
        ("I do, sometimes.", ["Endorses fever or chills."]),
    ],
)
def test_partial_and_hedged_answers(answer, expected):
    t = _clinic([("D", "Any fever or chills?"), ("P", answer)])
    note = draft_note(DRAFTER, t, load_template("hp"))
    assert [s.text for s in note.sentences() if s.text.startswith(("Denies", "Endorses"))] == expected
    assert_grounded(t, note)


def test_advice_that_starts_like_an_exam_instruction_is_kept():
    t = _clinic(
        [
            ("P", "I get dizzy when I stand up, since they started the water pill."),
            ("D", "Your blood pressure drops 25 points when you stand, so stop the hydrochlorothiazide today."),
            ("D", "Push fluids, at least two liters a day."),
            ("D", "Stand up slowly, sit on the edge of the bed first."),
            ("D", "Follow up with me in two weeks and if you faint, go to the emergency room."),
            ("D", "Since you are allergic to sulfa, we will not use that class again."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    plan = section_text(note, "plan")
    for said in ("Push fluids", "Stand up slowly", "Follow up with me in two weeks"):
        assert said in plan, (said, plan)
    assert "sulfa" in section_text(note, "allergies") + plan


def test_a_punctuated_sentence_is_not_cut_at_markers():
    segs = (
        Segment("s0", 0, 5, "The prednisone can raise your blood sugar and make it hard to sleep, so take it in the morning with food.",
                speaker="A", role=Role.CLINICIAN),
    )
    assert len(utterances(segs)) == 1


def test_a_denial_and_the_safety_net_about_it_are_both_kept():
    t = _clinic(
        [
            ("P", "It burns when I pee, for three days."),
            ("D", "Any fever or back pain?"),
            ("P", "No."),
            ("D", "If you get a fever or back pain, come back right away."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    text = all_text(note)
    assert "Denies fever or back pain." in text and "come back right away" in text


def test_a_dictated_plan_heading_carries_to_the_lines_after_it():
    t = _clinic(
        [
            ("D", "Plan: increase lisinopril to 20 milligrams daily."),
            ("D", "Urine microalbumin and basic metabolic panel."),
            ("D", "Return in 3 months."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    plan = section_text(note, "plan")
    assert "Urine microalbumin" in plan and "Return in 3 months" in plan
    assert not any(s.text.lower().startswith("plan:") for s in note.instructions)


@pytest.mark.parametrize("said", ["This looks like strep throat.", "You have strep throat."])
def test_a_diagnosis_without_an_article_is_the_assessment(said):
    t = _clinic(
        [
            ("P", "I have had a sore throat for three days and a fever."),
            ("D", "Your throat is red with white patches."),
            ("D", said),
            ("D", "We will start amoxicillin 500 milligrams twice a day for 10 days."),
        ]
    )
    note = draft_note(DRAFTER, t, load_template("hp"))
    assert "strep throat" in section_text(note, "assessment")
