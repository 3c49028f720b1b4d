"""Writers: every format round-trips or reads as its spec says. Hand-built results, no audio."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from scribe.batch import outputs as writers
from scribe.notes import render
from scribe.options import ScribeOptions
from scribe.types import ModelInfo, Note, NoteSection, NoteSentence, Omission, Role, Segment, Transcript, Word

MODELS = (
    ModelInfo(kind="speech", name="tiny.en", version="1.0"),
    ModelInfo(kind="drafter", name="rules", version="0.1.0"),
)


def make_transcript() -> Transcript:
    return Transcript(
        segments=(
            Segment(
                "s0", 0.5, 2.25, "What brings you in today?",
                words=(Word(0.5, 0.9, "What", 0.9), Word(0.9, 2.25, "today?", 0.8)),
                speaker="SPEAKER_00", role=Role.CLINICIAN,
            ),
            Segment("s1", 2.5, 6.0, "I've had a cough for a week & it's <worse> at night.",
                    speaker="SPEAKER_01", role=Role.PATIENT),
            Segment("s2", 6.0, 6.0, "Mm.", speaker="SPEAKER_01", role=Role.PATIENT),  # zero length
            Segment("s3", 3725.0, 3730.5, "Let's start an inhaler.", speaker="SPEAKER_00", role=Role.CLINICIAN),
            Segment("s4", 3731.0, 3732.0, "Okay.", speaker=None, role=Role.UNKNOWN),
        ),
        duration=3733.0,
        language="en",
        speakers={"SPEAKER_00": Role.CLINICIAN, "SPEAKER_01": Role.PATIENT},
    )


def make_note() -> Note:
    return Note(
        template="soap",
        title="SOAP progress note",
        loinc="11506-3",
        sections=(
            NoteSection("subjective", "Subjective", (
                NoteSentence("Patient reports cough for a week, worse at night.", ("s1",)),
            )),
            NoteSection("objective", "Objective", (), empty_text="No exam findings were captured."),
            NoteSection("plan", "Plan", (
                NoteSentence("Start an inhaler.", ("s3", "s1")),
            )),
        ),
    )


def empty_note() -> Note:
    return Note(
        template="soap", title="SOAP progress note", loinc="11506-3",
        sections=(NoteSection("subjective", "Subjective", ()),),
    )


def markdown(note: Note | None = None, transcript: Transcript | None = None) -> str:
    return render.render_note_markdown(
        note or make_note(), transcript or make_transcript(),
        uri="visit1", options_dict=ScribeOptions().to_dict(), models=MODELS,
    )


# --- transcript JSON ---


def test_transcript_json_round_trips(tmp_path: Path):
    t = make_transcript()
    path = tmp_path / "deep" / "er" / "visit1.transcript.json"  # parents are created
    out = writers.write_transcript_json(t, path, uri="visit1", options_dict=ScribeOptions().to_dict(), models=MODELS)
    assert out == path
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["uri"] == "visit1"
    assert doc["scribe_version"]
    assert doc["options"]["template"] == "soap"
    assert doc["models"][0] == {"kind": "speech", "name": "tiny.en", "version": "1.0", "path": None}
    seg = doc["segments"][0]
    assert set(seg) >= {"start", "end", "speaker", "role", "text", "words"}
    assert seg["role"] == "clinician"
    assert seg["words"][0] == {"start": 0.5, "end": 0.9, "text": "What", "probability": 0.9}
    assert Transcript.from_dict(doc) == t


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path, monkeypatch):
    path = tmp_path / "visit1.vtt"
    writers.write_text("old\n", path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        writers.write_webvtt(make_transcript(), path)
    assert path.read_text() == "old\n"  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visit1.vtt"]


# --- RTTM ---


def test_rttm_reads_back_as_the_same_turns(tmp_path: Path):
    t = make_transcript()
    path = writers.write_rttm(t, tmp_path / "visit1.rttm", uri="visit1")
    lines = path.read_text().splitlines()
    assert lines[0] == "SPEAKER visit1 1 0.500 1.750 <NA> <NA> SPEAKER_00 <NA> <NA>"
    assert len(lines) == 3  # zero-length s2 and speakerless s4 are left out
    ann = writers.read_rttm(path)["visit1"]
    turns = sorted((round(s.start, 3), round(s.end, 3), label) for s, _, label in ann.itertracks(yield_label=True))
    expected = sorted(
        (s.start, s.end, s.speaker) for s in t.segments if s.speaker and s.end > s.start
    )
    assert turns == expected


def test_rttm_uri_with_spaces_stays_one_field(tmp_path: Path):
    path = writers.write_rttm(make_transcript(), tmp_path / "a.rttm", uri="visit 1")
    assert all(len(line.split()) == 10 for line in path.read_text().splitlines())
    assert set(writers.read_rttm(path)) == {"visit_1"}


# --- WebVTT ---


def test_vtt_timestamp():
    assert writers.vtt_timestamp(0) == "00:00:00.000"
    assert writers.vtt_timestamp(2.25) == "00:00:02.250"
    assert writers.vtt_timestamp(3725.0004) == "01:02:05.000"
    assert writers.vtt_timestamp(59.9996) == "00:01:00.000"


def test_webvtt_format_and_escaping(tmp_path: Path):
    text = writers.write_webvtt(make_transcript(), tmp_path / "visit1.vtt").read_text()
    assert text.startswith("WEBVTT\n\n")
    blocks = text[len("WEBVTT\n\n"):].rstrip("\n").split("\n\n")
    assert len(blocks) == 5
    assert blocks[0] == "s0\n00:00:00.500 --> 00:00:02.250\n<v Clinician (SPEAKER_00)>What brings you in today?"
    assert "<v Patient (SPEAKER_01)>I've had a cough for a week &amp; it's &lt;worse&gt; at night." in blocks[1]
    # A zero-length segment still gets a (1 ms) cue: end must be after start.
    assert "00:00:06.000 --> 00:00:06.001" in blocks[2]
    assert "01:02:05.000 --> 01:02:10.500" in blocks[3]
    assert blocks[4].endswith("\nOkay.")  # no speaker, no role: no voice span
    for block in blocks:
        cue_time = block.splitlines()[1]
        assert re.fullmatch(r"\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}", cue_time)


def test_webvtt_empty_transcript(tmp_path: Path):
    t = Transcript(segments=(), duration=3.0, language="en")
    assert writers.write_webvtt(t, tmp_path / "e.vtt").read_text() == "WEBVTT\n\n"


# --- note markdown and text ---


def test_markdown_has_every_sentence_with_evidence_and_says_draft():
    md = markdown()
    assert md.startswith("# SOAP progress note\n")
    assert "DRAFT" in md and "clinician review" in md
    assert "preliminary" in md and "soap" in md
    assert "tiny.en" in md and "rules" in md
    assert "## Subjective" in md and "## Objective" in md and "## Plan" in md
    assert "- Patient reports cough for a week, worse at night. [s1 00:02]" in md
    assert "- Start an inhaler. [s3 1:02:05, s1 00:02]" in md
    assert "_No exam findings were captured._" in md
    for sentence in make_note().sentences():
        assert sentence.text in md
        for e in sentence.evidence:
            assert re.search(rf"[\[ ]{e} ", md)


def test_markdown_escapes_transcript_text():
    note = Note("soap", "SOAP", "11506-3", (
        NoteSection("s", "S", (NoteSentence("Takes *2* [tabs] <daily>", ("s0",)),)),
    ))
    md = markdown(note)
    assert r"- Takes \*2\* \[tabs\] \<daily\> [s0 00:00]" in md


def test_empty_note_says_nothing_was_captured(tmp_path: Path):
    silent = Transcript(segments=(), duration=5.0, language="en")
    md = markdown(empty_note(), silent)
    assert "Nothing was captured: no speech was detected in this recording." in md
    assert "DRAFT" in md
    assert "## Subjective" not in md
    path = writers.write_note_markdown(
        empty_note(), silent, tmp_path / "n.md", uri="visit1", options_dict={}, models=MODELS
    )
    assert path.read_text(encoding="utf-8") == render.render_note_markdown(
        empty_note(), silent, uri="visit1", options_dict={}, models=MODELS
    )


def test_empty_note_with_speech_does_not_claim_silence():
    md = markdown(empty_note(), make_transcript())
    assert "Nothing was captured" in md
    assert "no speech was detected" not in md


def test_note_text_is_plain():
    text = render.render_note_text(make_note())
    assert text.startswith("SOAP progress note\n")
    assert "DRAFT" in text
    assert "Subjective:" in text and "  - Start an inhaler." in text
    assert "No exam findings were captured." in text
    assert "[s1" not in text and "##" not in text
    empty = render.render_note_text(empty_note(), transcript=Transcript((), 1.0, "en"))
    assert "Nothing was captured: no speech was detected in this recording." in empty


def test_write_fhir_writes_indented_json(tmp_path: Path):
    path = writers.write_fhir({"resourceType": "DocumentReference", "status": "current"}, tmp_path / "x" / "d.json")
    text = path.read_text()
    assert text.startswith('{\n  "resourceType"')
    assert json.loads(text)["status"] == "current"


# --- omissions, patient instructions, note JSON ---


def note_with_extras() -> Note:
    return replace(
        make_note(),
        instructions=(
            NoteSentence("Use the inhaler twice a day.", ("s3",)),
            NoteSentence("Come back if the cough is <worse> at night.", ("s1", "s3")),
        ),
        omissions=(
            Omission("medication", "albuterol 90 mcg", ("s3",)),
            Omission("follow-up", "in two weeks", ("s1",)),
        ),
        drafter="extractive",
        drafter_version="9.9",
    )


def test_markdown_lists_omissions_in_the_review_footer():
    md = markdown(note_with_extras())
    heading = f"### {render.OMISSIONS_HEADING}"
    assert heading in md and md.index("## Plan") < md.index(heading) < md.index("_References such as")
    assert "- medication: albuterol 90 mcg [s3 1:02:05]" in md
    assert "- follow-up: in two weeks [s1 00:02]" in md
    # None found: nothing said (an all-clear would promise more than the check can).
    assert "missing" not in markdown().lower()


def test_omissions_stay_out_of_the_fhir_document_sections():
    from scribe.fhir.bundle import sections_from_markdown

    sections = sections_from_markdown(markdown(note_with_extras()))
    assert [title for title, _ in sections] == ["Subjective", "Objective", "Plan"]
    assert not any("albuterol" in line for _, lines in sections for line in lines)


def test_instructions_markdown_has_evidence_and_a_draft_notice():
    md = render.render_instructions_markdown(note_with_extras(), make_transcript(), uri="visit1")
    assert md.startswith("# Patient instructions\n")
    assert render.INSTRUCTIONS_NOTICE in md and "Status: preliminary. Recording: `visit1`." in md
    assert "## Your instructions" in md
    assert "- Use the inhaler twice a day. [s3 1:02:05]" in md
    assert r"- Come back if the cough is \<worse\> at night. [s1 00:02, s3 1:02:05]" in md
    assert "`visit1.transcript.json`" in md
    private = render.render_instructions_markdown(note_with_extras(), make_transcript(), uri="visit1",
                                                  transcript_kept=False)
    assert "privacy mode kept no transcript" in private
    drafted = render.render_instructions_markdown(note_with_extras(), make_transcript(), uri="visit1",
                                                  transcript_kept=False, drafted_from="visit1.txt")
    assert "Transcript: `visit1.txt`" in drafted and "in `visit1.txt`, the transcript this was drafted from" in drafted
    none = render.render_instructions_markdown(make_note(), make_transcript(), uri="visit1")
    assert "No instructions were given." in none and "[s" not in none


def test_note_json_round_trips(tmp_path: Path):
    note = note_with_extras()
    path = writers.write_note_json(note, tmp_path / "visit1.note.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert Note.from_dict(doc) == note
    assert doc["drafter"] == {"name": "extractive", "version": "9.9"}
    assert doc["instructions"]["loinc"] == "69730-0" and len(doc["instructions"]["sentences"]) == 2
    assert doc["omissions"][0] == {"kind": "medication", "text": "albuterol 90 mcg", "evidence": ["s3"]}
    assert [s["evidence"] for sec in doc["sections"] for s in sec["sentences"]] == [["s1"], ["s3", "s1"]]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# --- sentences the grounding guard flagged ---


def flagged_note() -> Note:
    note = make_note()
    plan = note.sections[2]
    made_up = NoteSentence("Start metformin 500 mg twice daily.", ("s3",), ("number 500 not said", "drug metformin not named"))
    return replace(note, sections=(*note.sections[:2], replace(plan, sentences=(*plan.sentences, made_up))))


def test_flagged_sentence_is_marked_in_review_and_editor_and_left_out_of_ehr_text():
    note = flagged_note()
    assert note.counts().to_dict() == {"supported": 2, "unsupported": 1, "omissions": 0}
    md = markdown(note)
    line = next(x for x in md.splitlines() if "metformin" in x)
    assert line.startswith(f"- **{render.UNSUPPORTED_MARK}** _(number 500 not said; drug metformin not named)_ ")
    assert "1 sentence(s) marked UNSUPPORTED" in md
    assert "UNSUPPORTED" not in markdown(make_note())  # nothing flagged, nothing said
    text = render.render_note_text(note)
    assert "metformin" not in text and "Start an inhaler." in text
    editable = render.editable_text(note)
    assert f"- {render.UNSUPPORTED_MARK} Start metformin 500 mg twice daily.\n" in editable
    # Signing drops a line still marked; the clinician keeps one by removing the mark.
    signed, dropped = render.drop_unsupported(editable)
    assert dropped == 1 and "metformin" not in signed and "Start an inhaler." in signed
    kept, dropped = render.drop_unsupported(editable.replace(f"{render.UNSUPPORTED_MARK} ", ""))
    assert dropped == 0 and "- Start metformin 500 mg twice daily." in kept
    # However the mark is written, and the lines a marked sentence wrapped onto (found by
    # a tester: these were signed, mark and all).
    edited = (
        "## Plan\n\n- Start an inhaler.\n- **[UNSUPPORTED]** Start metformin.\n1. [UNSUPPORTED] Start insulin.\n"
        "- [unsupported] Start aspirin.\n- \u2022 [ UNSUPPORTED ] Start statin.\n- [UNSUPPORTED] Start a very long\n"
        "  sentence wrapped onto a second line\nand a third.\n- Rest and fluids.\n\n## Follow-up\nTwo weeks.\n"
    )
    signed, dropped = render.drop_unsupported(edited)
    assert dropped == 5
    assert signed == "## Plan\n\n- Start an inhaler.\n- Rest and fluids.\n\n## Follow-up\nTwo weeks.\n"
    # note.json carries the flags and the counts, and reads back the same
    d = note.to_dict()
    assert d["counts"] == {"supported": 2, "unsupported": 1, "omissions": 0}
    assert d["sections"][2]["sentences"][1] == {
        "text": "Start metformin 500 mg twice daily.", "evidence": ["s3"], "supported": False,
        "flags": ["number 500 not said", "drug metformin not named"],
    }
    assert Note.from_dict(json.loads(json.dumps(d))) == note


def test_batch_fhir_document_leaves_flagged_sentences_out():
    from scribe.batch.visit import note_documents

    docs = note_documents(flagged_note(), make_transcript(), uri="visit1", options_dict=ScribeOptions().to_dict(),
                          models=MODELS, transcript_kept=False, source="visit1.wav")
    assert "metformin" in docs.markdown  # the review view shows it, marked
    attachments = [c["attachment"] for c in docs.document["content"]]
    assert len(attachments) == 2
    for a in attachments:
        import base64

        body = base64.b64decode(a["data"]).decode()
        assert "metformin" not in body and "Start an inhaler." in body
        assert "1 sentence(s) of the model's draft were left out" in body


def test_a_note_whose_every_sentence_is_flagged_does_not_claim_nothing_was_captured():
    from scribe.batch.visit import note_documents

    note = flagged_note()
    only_flagged = replace(note, sections=tuple(
        replace(sec, sentences=tuple(s for s in sec.sentences if not s.supported)) for sec in note.sections))
    assert only_flagged.counts().to_dict() == {"supported": 0, "unsupported": 1, "omissions": 0}
    text = render.render_note_text(only_flagged, transcript=make_transcript())
    assert "Nothing was captured" not in text and "1 sentence(s) of the model's draft were left out" in text
    docs = note_documents(only_flagged, make_transcript(), uri="visit1", options_dict=ScribeOptions().to_dict(),
                          models=MODELS, transcript_kept=False, source="visit1.txt")
    import base64

    for c in docs.document["content"]:
        body = base64.b64decode(c["attachment"]["data"]).decode()
        assert "Nothing was captured" not in body and "were left out" in body and "metformin" not in body

