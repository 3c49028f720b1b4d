"""Transcript readers (``scribe draft``'s inputs): each format, roles from speaker labels,
and every kind of bad input as one ``InputError`` line naming the file and the reason."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from scribe.batch import outputs as writers
from scribe.batch.draft import assign_roles
from scribe.batch.readers import (
    read_transcript,
    role_from_label,
    transcript_files,
    transcript_stem,
)
from scribe.errors import InputError
from scribe.options import ScribeOptions
from scribe.speakers.roles import CueRoleLabeller, apply_roles
from scribe.types import ModelInfo, Role, Segment, Transcript
from tests.test_writers import MODELS, make_transcript

LABELLER = CueRoleLabeller()


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def error(path: Path) -> str:
    with pytest.raises(InputError) as e:
        read_transcript(path)
    assert e.value.exit_code == 2 and "\n" not in str(e.value)
    return str(e.value)


# --- Scribe's transcript JSON ---


def test_transcript_json_as_transcribe_writes_it(tmp_path):
    t = make_transcript()
    path = writers.write_transcript_json(t, tmp_path / "visit.transcript.json", uri="visit",
                                         options_dict=ScribeOptions().to_dict(),
                                         models=(*MODELS, ModelInfo("vad", "silero", "5")))
    read = read_transcript(path)
    assert read.format == "transcript-json"
    assert read.transcript.segments == t.segments  # ids, times, words, speakers and roles as written
    assert read.transcript.duration == t.duration and read.transcript.language == "en"
    # What made the transcript is kept; the drafter is the one drafting now.
    assert read.models == (ModelInfo("speech", "tiny.en", "1.0"), ModelInfo("vad", "silero", "5"))


def test_bare_transcript_dict_and_missing_duration(tmp_path):
    doc = make_transcript().to_dict()
    del doc["duration"]
    read = read_transcript(write(tmp_path / "t.json", json.dumps(doc)))
    assert read.transcript.duration == 3732.0 and read.models == ()


# --- WebVTT ---


def test_our_webvtt_round_trips(tmp_path):
    t = make_transcript()
    path = writers.write_webvtt(t, tmp_path / "visit.vtt")
    read = read_transcript(path)
    assert read.format == "webvtt"
    expected = tuple(replace(s, words=()) for s in t.segments)
    got = read.transcript.segments
    # The zero-length line was written 1 ms long (WebVTT needs end > start).
    assert got[2].end == pytest.approx(6.001)
    assert tuple(replace(s, end=e.end) if s.id == "s2" else s for s, e in zip(got, expected)) == expected
    assert got[1].text == "I've had a cough for a week & it's <worse> at night."
    assert (got[0].speaker, got[0].role) == ("SPEAKER_00", Role.CLINICIAN)
    assert (got[4].speaker, got[4].role) == (None, Role.UNKNOWN)


def test_webvtt_voice_names_classes_header_notes_and_renumbering(tmp_path):
    vtt = (
        "\ufeffWEBVTT - a consult\nKind: captions\nLanguage: en\n\n"
        "NOTE written by another tool\n\n"
        "1\n00:01.000 --> 00:03.500 align:start\n<v.loud Dr Lee>Good <b>morning</b>.</v>\n\n"
        "00:00:04.000 --> 00:00:06.000\n<v Maria>My knee hurts\nwhen I climb stairs.</v>\n\n"
        "3\n00:06.000 --> 00:10.000\n<v Dr Lee>Any swelling?</v> <v Maria>Yes, some &amp; it's warm.</v>\n"
    )
    read = read_transcript(write(tmp_path / "consult.vtt", vtt))
    segs = read.transcript.segments
    assert [s.id for s in segs] == ["s0", "s1", "s2", "s3"]  # cue ids not all s<N>: renumbered
    assert [(s.speaker, s.role) for s in segs] == [
        ("Dr Lee", Role.CLINICIAN), ("Maria", Role.UNKNOWN), ("Dr Lee", Role.CLINICIAN), ("Maria", Role.UNKNOWN)
    ]
    assert segs[0].text == "Good morning." and segs[1].text == "My knee hurts when I climb stairs."
    assert (segs[0].start, segs[0].end) == (1.0, 3.5)
    # A cue with two voices is split, its time shared by words (2 and 5).
    assert (segs[2].start, segs[2].end, segs[3].start, segs[3].end) == (6.0, pytest.approx(7.143), pytest.approx(7.143), 10.0)
    assert segs[3].text == "Yes, some & it's warm."
    assert read.transcript.duration == 10.0


def test_webvtt_without_voice_tags_may_label_its_cues(tmp_path):
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nDoctor: How are you?\n\n00:02.000 --> 00:04.000\nPatient: Tired.\n"
    segs = read_transcript(write(tmp_path / "zoom.vtt", vtt)).transcript.segments
    assert [(s.speaker, s.role, s.text) for s in segs] == [
        ("Doctor", Role.CLINICIAN, "How are you?"), ("Patient", Role.PATIENT, "Tired.")
    ]


# --- plain text ---


def test_plain_text_turns_continuations_and_times(tmp_path):
    text = (
        "Visit of 3 March\n\n"
        "Dr Lee: Good morning, what brings you in?\n"
        "SPEAKER_01: I've had a cough for a week.\n"
        "It is worse at night.\n"
        "Dr. Lee:\n"
        "Any fever?\n"
        "patient_guest: She had a fever on Monday.\n"
    )
    read = read_transcript(write(tmp_path / "visit.txt", text))
    segs = read.transcript.segments
    assert read.format == "text" and [s.id for s in segs] == ["s0", "s1", "s2", "s3", "s4"]
    assert [(s.speaker, s.role) for s in segs] == [
        ("Dr Lee", Role.CLINICIAN), ("SPEAKER_01", Role.UNKNOWN), ("SPEAKER_01", Role.UNKNOWN),
        ("Dr. Lee", Role.CLINICIAN), ("patient_guest", Role.OTHER),
    ]
    assert segs[2].text == "It is worse at night." and segs[3].text == "Any fever?"
    # 0.4 s a word, at least 0.5 s, one after another.
    assert [(s.start, s.end) for s in segs] == [(0.0, 2.4), (2.4, 5.2), (5.2, 7.2), (7.2, 8.0), (8.0, 10.4)]
    assert read.transcript.duration == 10.4


def test_extension_is_checked_against_content(tmp_path):
    vtt = writers.write_webvtt(make_transcript(), tmp_path / "a.vtt").read_text()
    assert read_transcript(write(tmp_path / "captions.txt", vtt)).format == "webvtt"
    assert read_transcript(write(tmp_path / "visit.transcript", json.dumps(make_transcript().to_dict()))).format == "transcript-json"
    assert read_transcript(write(tmp_path / "notes", "Doctor: Hello.\n")).format == "text"


# --- roles from labels, and inferred ---


@pytest.mark.parametrize("label,role", [
    ("Doctor", Role.CLINICIAN), ("Dr Lee", Role.CLINICIAN), ("dr. lee", Role.CLINICIAN), ("Nurse Kim", Role.CLINICIAN),
    ("PHYSICIAN", Role.CLINICIAN), ("provider", Role.CLINICIAN), ("clinician", Role.CLINICIAN),
    ("patient", Role.PATIENT), ("Pt", Role.PATIENT), ("Patient (Maria)", Role.PATIENT),
    ("mother", Role.OTHER), ("Patient's mother", Role.OTHER), ("patient_guest", Role.OTHER),
    ("Husband", Role.OTHER), ("caregiver", Role.OTHER), ("Interpreter", Role.OTHER),
    ("SPEAKER_00", None), ("Maria", None), ("Drew", None), ("", None),
])
def test_role_from_label(label, role):
    assert role_from_label(label) is role


def _unlabelled() -> Transcript:
    said = [
        ("A", "Hi, I'm Dr Patel. What brings you in today?"),
        ("B", "I've had a cough for about a week and my chest hurts when I cough."),
        ("A", "Any fever? Let me listen to your lungs. Take a deep breath."),
        ("B", "No fever. I've been tired though."),
        ("C", "She has been coughing all night, I can hear her."),
    ]
    segs = tuple(Segment(f"s{i}", i, i + 1, text, speaker=sp) for i, (sp, text) in enumerate(said))
    return Transcript(segs, 5.0, "en")


def test_no_label_names_a_role_so_all_are_inferred_as_the_pipeline_does():
    t = _unlabelled()
    labelled, inferred = assign_roles(t, LABELLER)
    assert inferred and labelled == apply_roles(t)
    assert labelled.speakers == {"A": Role.CLINICIAN, "B": Role.PATIENT, "C": Role.OTHER}


def test_labels_naming_every_role_are_kept():
    t = _unlabelled()
    names = {"A": "Patient", "B": "Doctor", "C": "Wife"}  # against the cues: the labels win
    t = replace(t, segments=tuple(replace(s, speaker=names[s.speaker], role=role_from_label(names[s.speaker]))
                                  for s in t.segments))
    labelled, inferred = assign_roles(t, LABELLER)
    assert not inferred
    assert labelled.speakers == {"Patient": Role.PATIENT, "Doctor": Role.CLINICIAN, "Wife": Role.OTHER}


def test_some_labels_name_roles_the_rest_are_decided():
    t = _unlabelled()
    # Only the clinician is named: the patient is the unnamed speaker the labeller
    # calls patient, and every further unnamed speaker is other.
    named = replace(t, segments=tuple(replace(s, speaker="Dr Patel", role=Role.CLINICIAN) if s.speaker == "A" else s
                                      for s in t.segments))
    labelled, inferred = assign_roles(named, LABELLER)
    assert inferred and labelled.speakers == {"Dr Patel": Role.CLINICIAN, "B": Role.PATIENT, "C": Role.OTHER}
    assert [s.role for s in labelled.segments] == [Role.CLINICIAN, Role.PATIENT, Role.CLINICIAN, Role.PATIENT, Role.OTHER]
    # Only the relative is named: clinician and patient still go to A and B.
    other = replace(t, segments=tuple(replace(s, role=Role.OTHER) if s.speaker == "C" else s for s in t.segments))
    assert assign_roles(other, LABELLER)[0].speakers == {"A": Role.CLINICIAN, "B": Role.PATIENT, "C": Role.OTHER}
    # Only the patient is named, and the labeller would call the unnamed speaker a
    # patient too: the open clinician role goes to who said most.
    two = Transcript((Segment("s0", 0, 1, "I've had a cough.", speaker="Patient", role=Role.PATIENT),
                      Segment("s1", 1, 2, "My chest hurts, I've been tired, I feel awful.", speaker="X")), 2.0, "en")
    assert assign_roles(two, LABELLER)[0].speakers == {"Patient": Role.PATIENT, "X": Role.CLINICIAN}


# --- folders and names ---


def test_folder_listing_and_stems(tmp_path):
    for name in ("a.transcript.json", "a.vtt", "a.note.json", "a.fhir.json", "a.instructions.fhir.json",
                 "a.transaction.json", "a.note.md", "b.vtt", "c.txt", "d.json", "e.wav"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub.txt").mkdir()
    assert [p.name for p in transcript_files(tmp_path)] == ["a.transcript.json", "b.vtt", "c.txt", "d.json"]
    assert [transcript_stem(Path(n)) for n in ("a.transcript.json", "b.vtt", "c.txt", "d.json", "e.TXT", ".txt")] == [
        "a", "b", "c", "d", "e", ".txt"
    ]


# --- bad input: one line each, naming the file and the reason ---


@pytest.mark.parametrize("name,content,reason", [
    ("empty.txt", b"", "file is empty"),
    ("blank.vtt", b"  \n\n\t\n", "file is empty"),
    ("junk.txt", bytes(range(256)) * 4, "not a text file (binary data)"),
    ("latin1.txt", "Dr Lee: Caf\u00e9".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 11)"),
    ("broken.json", b'{"segments": [', "not valid JSON (Expecting value at line 1)"),
    ("list.json", b"[1, 2]", 'not a Scribe transcript (expected a JSON object with a "segments" list)'),
    ("fhir.json", b'{"resourceType": "DocumentReference"}',
     'not a Scribe transcript (expected a JSON object with a "segments" list)'),
    ("nostart.json", b'{"segments": [{"id": "s0", "end": 1, "text": "Hi"}], "duration": 1}',
     'not a Scribe transcript (segment 0: no "start")'),
    ("badrole.json", b'{"segments": [{"id": "s0", "start": 0, "end": 1, "text": "Hi", "role": "nurse"}]}',
     "not a Scribe transcript (segment 0: role is not one of clinician, patient, other, unknown)"),
    ("backwards.json", b'{"segments": [{"id": "s0", "start": 2, "end": 1, "text": "Hi"}]}',
     "not a Scribe transcript (segment 0: end before start)"),
    ("twice.json", b'{"segments": [{"id": "s0", "start": 0, "end": 1, "text": "a"}, {"id": "s0", "start": 1, "end": 2, "text": "b"}]}',
     "not a Scribe transcript (segment 1: id is the same as segment 0's)"),
    ("silent.json", b'{"segments": [], "duration": 5}', "holds no transcript lines (no segment has text)"),
    ("noheader.vtt", b"00:00.000 --> 00:01.000\n<v A>Hi\n", 'not a WebVTT file (the first line must be "WEBVTT")'),
    ("nocues.vtt", b"WEBVTT\n\nNOTE nothing here\n", "holds no transcript lines (a WebVTT file without cues)"),
    ("badtime.vtt", b"WEBVTT\n\nc1\n00:00 --> 00:01\n<v A>Hi\n",
     "not a WebVTT file (cue 1: no valid 'start --> end' time line)"),
    ("backwards.vtt", b"WEBVTT\n\n00:00.000 --> 00:02.000\n<v A>Hi\n\n00:05.000 --> 00:01.000\n<v B>Yes\n",
     "not a WebVTT file (cue 2: end before start)"),
    ("sixty.vtt", b"WEBVTT\n\n99:99.999 --> 99:99.999\n<v A>Hi\n",
     "not a WebVTT file (cue 1: minutes and seconds must be below 60)"),
    ("sixtyh.vtt", b"WEBVTT\n\n00:00.000 --> 01:60:00.000\n<v A>Hi\n",
     "not a WebVTT file (cue 1: minutes and seconds must be below 60)"),
    ("nested.json", b'{"segments":' + b"[" * 100_000, "not a Scribe transcript (JSON nested too deeply)"),
    ("negative.json", b'{"segments": [{"id": "s0", "start": -3, "end": -1, "text": "Hi"}]}',
     "not a Scribe transcript (segment 0: start is negative)"),
    ("nan.json", b'{"segments": [{"id": "s0", "start": NaN, "end": Infinity, "text": "Hi"}]}',
     "not a Scribe transcript (segment 0: start is not a number of seconds)"),
    ("novoice.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello there\n",
     "no speakers (cues need voice tags like <v SPEAKER_00>, or 'NAME: text' lines)"),
    ("prose.txt", b"The patient came in with a cough.\nShe was seen by Dr Lee.\n",
     "no 'LABEL: text' lines (expected one turn a line, e.g. 'Dr Lee: How are you?')"),
    ("labels.txt", b"Dr Lee:\nPatient:\n", "holds no transcript lines (every turn is empty)"),
])
def test_bad_input_is_one_line(tmp_path, name, content, reason):
    path = write(tmp_path / name, content)
    assert error(path) == f"{path}: {reason}"


def test_missing_folder_fifo_and_unreadable(tmp_path):
    assert error(tmp_path / "nope.txt") == f"{tmp_path / 'nope.txt'}: file not found"
    assert error(tmp_path) == f"{tmp_path}: is a folder, not a transcript"
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert error(fifo) == f"{fifo}: not a regular file"
    too_long = tmp_path / ("x" * 300 + ".txt")
    assert error(too_long) == f"{too_long}: cannot be read (File name too long)"
    if os.geteuid() != 0:  # root reads anything
        locked = write(tmp_path / "locked.txt", "Doctor: hi\n")
        locked.chmod(0)
        assert error(locked) == f"{locked}: cannot be read (Permission denied)"


def test_utf16_with_bom_is_read_as_text(tmp_path):
    # Windows Notepad's "Unicode" save: UTF-16 with a byte-order mark.
    path = tmp_path / "notepad.txt"
    path.write_bytes("Dr Lee: Any fever?\r\nPatient: No.\r\n".encode("utf-16"))
    got = read_transcript(path).transcript
    assert [s.text for s in got.segments] == ["Any fever?", "No."]


def test_json_without_speakers_is_one_voice(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"segments": [
        {"id": "s0", "start": 0, "end": 2, "text": "I have had a cough for a week."},
        {"id": "s1", "start": 2, "end": 4, "text": "It keeps me up at night."},
    ]}))
    got = read_transcript(path).transcript
    assert {s.speaker for s in got.segments} == {"SPEAKER_00"}
