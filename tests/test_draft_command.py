"""`scribe draft` as a user runs it (a subprocess): notes from a plain-text transcript, our
own captions, a transcript JSON from a recorded visit and ACI-BENCH dialogues; the same
files and privacy rules as `transcribe`; bad files one line each, the rest still drafted."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path


from privacy.audit import AuditLog
from privacy.visit import Visit
from scribe.batch import outputs as writers
from scribe.batch import write_visit_outputs
from scribe.batch.readers import read_transcript
from scribe.fhir.document_reference import validate_document_reference
from scribe.notes import DRAFTERS, draft_note
from scribe.notes.templates import load_template
from scribe.options import ScribeOptions
from scribe.types import Note
from tests.conftest import REPO, SAMPLES
from tests.test_writers import MODELS, make_transcript

DOCUMENTS = (".note.md", ".note.json", ".fhir.json")
INSTRUCTIONS = (".instructions.md", ".instructions.fhir.json")
TRANSCRIPT_FILES = (".transcript.json", ".rttm", ".vtt")

VISIT_TXT = """\
Dr Lee: Good morning, what brings you in today?
Maria: I've had a cough for about a week and it's worse at night.
Dr Lee: Any fever or shortness of breath?
Maria: No fever. I take lisinopril 10 mg every day.
It started after a cold.
Dr Lee: Your lungs sound clear. I think this is a viral bronchitis.
Dr Lee: Take honey and fluids, and come back in two weeks if it is not better.
Maria: Okay, thank you.
"""


def scribe_draft(*args, data: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if data is not None:
        env["SCRIBE_DATA_DIR"] = str(data)
    return subprocess.run([sys.executable, "-m", "scribe.cli", "draft", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def written(out: Path, uri: str) -> set[str]:
    return {p.name.removeprefix(uri) for p in out.iterdir() if p.name.startswith(f"{uri}.")}


def check_note(out: Path, uri: str, source: Path) -> Note:
    """The note's files are there and agree: note.json round-trips, every piece of evidence
    is a segment of the input, the FHIR documents validate, and the instructions' files
    exist exactly when the note has instructions."""
    doc = json.loads((out / f"{uri}.note.json").read_text())
    note = Note.from_dict(doc)
    assert note.to_dict() == doc
    assert note.sentences() and note.drafter == "extractive" and note.drafter_version
    ids = read_transcript(source).transcript.segment_ids()
    for cited in (*note.sentences(), *note.instructions, *note.omissions):
        assert cited.evidence and set(cited.evidence) <= ids
    validate_document_reference(json.loads((out / f"{uri}.fhir.json").read_text()))
    has = {s for s in INSTRUCTIONS if (out / f"{uri}{s}").exists()}
    assert has == (set(INSTRUCTIONS) if note.instructions else set())
    if note.instructions:
        instructions = json.loads((out / f"{uri}.instructions.fhir.json").read_text())
        validate_document_reference(instructions)
        assert instructions["type"]["coding"][0]["code"] == "69730-0"
    return note


def test_plain_text_in_privacy_mode(tmp_path):
    source = tmp_path / "visit.txt"
    source.write_text(VISIT_TXT)
    out, data = tmp_path / "out", tmp_path / "data"
    r = scribe_draft(source, "--out", out, data=data)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    [line] = r.stdout.splitlines()
    assert line.startswith(f"{source}: text, 2 speaker(s), 8 line(s), roles inferred -> ")
    assert line.endswith("(privacy mode: nothing else kept)")
    # Privacy mode: the note's documents only; no copy of the transcript.
    names = written(out, "visit")
    assert set(DOCUMENTS) <= names and names - set(DOCUMENTS) <= set(INSTRUCTIONS)
    check_note(out, "visit", source)
    markdown = (out / "visit.note.md").read_text()
    assert "Transcript: `visit.txt`" in markdown and "role-labeller: cues" in markdown
    # Audited like a recorded visit, metadata only.
    entries = AuditLog(data / "audit.jsonl").read()
    events = [e["event"] for e in entries]
    assert events[0] == "visit_opened" and events[1] == "note_drafted" and events[-1] == "visit_closed"
    drafted = entries[1]
    assert drafted["segments"] == 8 and drafted["speakers"] == 2 and drafted["template"] == "soap"
    assert drafted["drafting_model"].startswith("extractive:")
    exported = [e for e in entries if e["event"] == "note_exported"]
    assert sorted(e["format"] for e in exported) == sorted(
        {".note.md": "md", ".note.json": "json", ".fhir.json": "fhir", ".instructions.md": "md",
         ".instructions.fhir.json": "fhir"}[s] for s in names)
    log = (data / "audit.jsonl").read_text().lower()
    assert "cough" not in log and "lisinopril" not in log and "visit.txt" not in log


def test_our_captions_with_no_privacy(tmp_path):
    source = writers.write_webvtt(make_transcript(), tmp_path / "in" / "clinic.vtt")
    out = tmp_path / "out"
    r = scribe_draft(source, "--out", out, "--no-privacy", "--template", "hp", data=tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "webvtt, 2 speaker(s), 5 line(s), roles from the transcript" in r.stdout and "kept, encrypted" in r.stdout
    # Standard mode: the transcript it read is written too, as transcribe writes it.
    names = written(out, "clinic")
    assert set(TRANSCRIPT_FILES + DOCUMENTS) <= names
    note = check_note(out, "clinic", source)
    assert note.template == "hp"
    again = read_transcript(out / "clinic.transcript.json").transcript
    assert again.segments == read_transcript(source).transcript.segments
    assert (out / "clinic.vtt").read_text() == source.read_text()  # our captions round-trip


def test_a_recorded_visits_transcript_gives_the_note_transcribe_wrote(pipeline, tmp_path):
    """A transcript JSON written by a recorded visit in standard mode (in-process, as
    `transcribe --no-privacy` does), drafted again by `scribe draft`: the same note,
    and documents of the same structure."""
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    with Visit(privacy=False, audit=AuditLog(tmp_path / "audit.jsonl")) as visit:
        result = pipeline.process(SAMPLES / "cough_visit.wav", uri="cough_visit", visit=visit)
        write_visit_outputs(result, source=SAMPLES / "cough_visit.wav", uri="cough_visit", out=recorded, visit=visit)
    out = tmp_path / "out"
    r = scribe_draft(recorded / "cough_visit.transcript.json", "--out", out, data=tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "transcript-json" in r.stdout and "roles from the transcript" in r.stdout
    check_note(out, "cough_visit", recorded / "cough_visit.transcript.json")
    assert json.loads((out / "cough_visit.note.json").read_text()) == json.loads(
        (recorded / "cough_visit.note.json").read_text())
    assert written(out, "cough_visit") == written(recorded, "cough_visit") - set(TRANSCRIPT_FILES)

    def shape(value):
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value[:1]]
        return type(value).__name__

    for suffix in (".fhir.json", *INSTRUCTIONS[1:]):
        if (recorded / f"cough_visit{suffix}").exists():
            mine, theirs = (json.loads((d / f"cough_visit{suffix}").read_text()) for d in (out, recorded))
            assert shape(mine) == shape(theirs)
    # The speech models that made the transcript are still named; the drafter drafted again.
    device = json.loads((out / "cough_visit.fhir.json").read_text())["contained"][0]
    names = [n["name"] for n in device["deviceName"]]
    assert "extractive" in names and any("tiny.en" in n for n in names), names


def test_folder_with_good_and_bad_files(tmp_path):
    visits = tmp_path / "visits"
    visits.mkdir()
    (visits / "a_visit.txt").write_text(VISIT_TXT)
    writers.write_webvtt(make_transcript(), visits / "b_visit.vtt")
    (visits / "c_broken.json").write_text('{"segments": [')
    (visits / "d_prose.txt").write_text("Seen today for a cough. No fever.\n")
    (visits / "e_audio.wav").write_bytes(b"RIFF")  # not a transcript extension: not taken
    out = tmp_path / "out"
    r = scribe_draft(visits, "--out", out, data=tmp_path / "data")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        f"error: {visits / 'c_broken.json'}: not valid JSON (Expecting value at line 1)",
        f"error: {visits / 'd_prose.txt'}: no 'LABEL: text' lines (expected one turn a line, e.g. 'Dr Lee: How are you?')",
        "2 of 4 input(s) failed",
    ]
    for uri, source in (("a_visit", visits / "a_visit.txt"), ("b_visit", visits / "b_visit.vtt")):
        check_note(out, uri, source)
    assert not any(p.name.startswith(("c_broken", "d_prose", "e_audio")) for p in out.iterdir())
    assert len(r.stdout.splitlines()) == 2


def test_command_line_mistakes_are_one_line(tmp_path):
    source = tmp_path / "visit.txt"
    source.write_text(VISIT_TXT)
    missing = scribe_draft(tmp_path / "nope.vtt", source, "--out", tmp_path / "out")
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [f"error: {tmp_path / 'nope.vtt'}: file not found", "1 of 2 input(s) failed"]
    assert (tmp_path / "out" / "visit.note.json").exists()  # the good one still drafted
    empty = tmp_path / "empty"
    empty.mkdir()
    r = scribe_draft(empty, "--out", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.splitlines()[0] == f"error: {empty}: folder holds no transcripts (.json, .vtt, .txt)"
    r = scribe_draft(source, "--out", tmp_path / "o2", "--template", "nosuch")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "nosuch" in r.stderr
    r = scribe_draft(source, "--out", tmp_path / "o3", "--drafter", "nosuch")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "extractive" in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = scribe_draft(source, "--out", blocker / "sub")
    assert r.returncode == 3 and r.stderr.startswith(f"error: {blocker / 'sub'}: output folder is not writable")


def test_never_overwrites_the_transcript_it_drafts(tmp_path):
    source = writers.write_transcript_json(make_transcript(), tmp_path / "visit.transcript.json", uri="visit",
                                           options_dict={}, models=MODELS)
    before = source.read_bytes()
    r = scribe_draft(source, "--out", tmp_path, "--no-privacy", data=tmp_path / "data")
    assert r.returncode == 3
    assert r.stderr.splitlines() == [
        f"error: {source}: would overwrite the transcript being drafted; choose another --out",
        "1 of 1 input(s) failed",
    ]
    assert source.read_bytes() == before and not (tmp_path / "visit.note.json").exists()
    # Privacy mode writes no transcript, so the same folder is fine.
    r = scribe_draft(source, "--out", tmp_path, data=tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "visit.note.json").exists() and source.read_bytes() == before


def _aci_text(dialogue: str) -> str:
    """An ACI-BENCH dialogue as plain text: each tag, in order of first appearance, as
    SPEAKER_00, SPEAKER_01, ...; an untagged line stays as it is (it continues the turn)."""
    names: dict[str, str] = {}
    lines = []
    for line in dialogue.splitlines():
        line = line.strip()
        if line.startswith("[") and "]" in line:
            tag, text = line[1:].split("]", 1)
            lines.append(f"{names.setdefault(tag, f'SPEAKER_{len(names):02d}')}: {text.strip()}")
        elif line:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_aci_bench_dialogues_through_the_command_give_the_in_process_notes(aci_bench, tmp_path):
    """The benchmark's in-process path (benchmarks/aci_bench_notes.py: parse_dialogue,
    label_roles, the drafter; through draft_note here) and `scribe draft` on the same
    dialogues as SPEAKER_00/SPEAKER_01 plain text give the same notes."""
    from benchmarks.aci_bench_notes import parse_dialogue
    from scribe.speakers.roles import apply_roles

    rows = list(csv.DictReader((aci_bench / "valid.csv").open(encoding="utf-8")))
    assert len(rows) == 20  # all of them: an empty turn is skipped by both paths
    folder = tmp_path / "dialogues"
    folder.mkdir()
    for row in rows:
        (folder / f"{row['encounter_id']}.txt").write_text(_aci_text(row["dialogue"]), encoding="utf-8")
    out = tmp_path / "out"
    r = scribe_draft(folder, "--out", out, data=tmp_path / "data")
    assert r.returncode == 0, r.stderr
    drafter = DRAFTERS.create("extractive", ScribeOptions())
    template = load_template("soap")
    for row in rows:
        transcript, _ = parse_dialogue(row["dialogue"])
        expected = draft_note(drafter, apply_roles(transcript), template)
        got = json.loads((out / f"{row['encounter_id']}.note.json").read_text())
        assert got == expected.to_dict(), row["encounter_id"]
