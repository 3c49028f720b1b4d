"""The recorder's wire format: each event's JSON, key for key, with today's rounding.
The recorder page (scribe/service/recorder/recorder.js and review.js) reads exactly these."""

from __future__ import annotations

import json
from dataclasses import replace

from scribe.live.events import (
    DraftFailedEvent,
    DraftingEvent,
    ErrorEvent,
    FinalEvent,
    LineEvent,
    ModelNoteEvent,
    NoteEvent,
    PartialEvent,
    PongEvent,
    ReadyEvent,
    RolesEvent,
    StateEvent,
)
from scribe.types import Note, NoteSection, NoteSentence, Omission, Role, Segment, Transcript, Word

SEG = Segment("s0", 1.23456, 4.56789, "chest pain since Monday", (Word(1.2, 1.5, "chest"),), "SPEAKER_1", Role.PATIENT)
NOTE = Note("soap", "SOAP note", "11506-3", (NoteSection("s", "Subjective", (NoteSentence("Chest pain.", ("s0",)),)),))


def wire(event) -> str:
    return json.dumps(event.to_json(), ensure_ascii=False)


def test_line_rounds_times_and_drops_words():
    line = {"type": "line", "id": "s0", "start": 1.23, "end": 4.57, "text": "chest pain since Monday",
            "speaker": "SPEAKER_1", "role": "patient", "language": None, "translation": None, "utterance_end": 4.568}
    assert wire(LineEvent(SEG, 4.56789)) == json.dumps(line, ensure_ascii=False)
    said = replace(SEG, text="dolor de pecho desde el lunes", language="es", translation="chest pain since Monday")
    assert LineEvent(said, 4.56789).to_json() | {"text": SEG.text} == line | {"language": "es", "translation": SEG.text}


def test_ready_with_lines_and_after_the_visit():
    event = ReadyEvent("v1", True, "recording", "soap", 12.34567, (LineEvent(SEG, 4.56789),))
    assert list(event.to_json()) == ["type", "visit", "privacy", "state", "template", "note_language", "received", "lines"]
    assert event.to_json()["note_language"] == "en"
    assert event.to_json()["received"] == 12.346 and event.to_json()["lines"] == [LineEvent(SEG, 4.56789).to_json()]
    assert ReadyEvent("v1", False, "signed", "soap", None).to_json()["received"] is None


def test_partial_keeps_exact_times_and_clears():
    assert wire(PartialEvent(1.23456, 2.5, "so the")) == '{"type": "partial", "start": 1.23456, "end": 2.5, "text": "so the"}'
    assert wire(PartialEvent.cleared()) == '{"type": "partial", "start": null, "end": null, "text": ""}'


def test_roles_sorted_by_speaker():
    event = RolesEvent({"SPEAKER_2": Role.CLINICIAN, "SPEAKER_1": Role.PATIENT})
    assert wire(event) == '{"type": "roles", "roles": {"SPEAKER_1": "patient", "SPEAKER_2": "clinician"}}'


def test_note_and_final():
    assert NoteEvent(NOTE, "## Subjective\n").to_json() == {
        "type": "note", "final": False, "note": NOTE.to_dict(), "text": "## Subjective\n", "instructions_text": "",
    }
    transcript = Transcript((SEG,), 61.98765, "en", {"SPEAKER_1": Role.PATIENT})
    final = FinalEvent(True, transcript, NOTE, "## Subjective\n").to_json()
    assert list(final) == ["type", "privacy", "transcript", "roles", "note", "text", "instructions_text", "duration",
                           "drafting"]
    assert final["drafting"] is None
    assert final["transcript"] == [{"id": "s0", "start": 1.23, "end": 4.57, "text": "chest pain since Monday",
                                    "speaker": "SPEAKER_1", "role": "patient", "language": None, "translation": None}]
    assert final["roles"] == {"SPEAKER_1": "patient"} and final["duration"] == 61.98765
    assert final["note"] == NOTE.to_dict() and final["privacy"] is True
    assert final["instructions_text"] == ""  # no instructions: the note is signed alone


def test_instructions_and_omissions_reach_the_recorder():
    """The recorder draws the instructions panel from note.instructions and their
    editable text, the review panel from note.omissions: both in note and final events."""
    note = replace(
        NOTE,
        instructions=(NoteSentence("Drink plenty of fluids.", ("s0",)), NoteSentence("Come back  in a week.", ("s0",))),
        omissions=(Omission("symptom", "chest pain", ("s0",)), Omission("follow-up", "since Monday", ("s0",))),
    )
    text = "## Your instructions\n\n- Drink plenty of fluids.\n- Come back in a week.\n"
    for event in (NoteEvent(note, ""), FinalEvent(False, Transcript((SEG,), 5.0, "en"), note, "")):
        data = json.loads(wire(event))
        assert data["instructions_text"] == text
        assert data["note"]["instructions"] == {"loinc": "69730-0", "sentences": [
            {"text": "Drink plenty of fluids.", "evidence": ["s0"], "supported": True},
            {"text": "Come back  in a week.", "evidence": ["s0"], "supported": True}]}
        assert data["note"]["omissions"] == [
            {"kind": "symptom", "text": "chest pain", "evidence": ["s0"]},
            {"kind": "follow-up", "text": "since Monday", "evidence": ["s0"]},
        ]


def test_model_draft_events():
    """A model drafter's progress, its note (the guard's flags and the counts in it), and
    its failure, as the recorder reads them; a final event says a draft is under way."""
    assert wire(DraftingEvent("llm", "qwen", 2, 5)) == (
        '{"type": "drafting", "drafter": "llm", "model": "qwen", "done": 2, "total": 5}'
    )
    flagged = NoteSentence("Left knee pain.", ("s0",), ("side left not said",))
    note = replace(NOTE, sections=(NoteSection("s", "Subjective", (NoteSentence("Chest pain.", ("s0",)), flagged)),),
                   drafter="llm", drafter_version="0.1.0+llama:tiny")
    text = "## Subjective\n\n- Chest pain.\n- [UNSUPPORTED] Left knee pain.\n"
    data = ModelNoteEvent(note, text).to_json()
    assert list(data) == ["type", "drafter", "note", "text", "instructions_text"]
    assert data["drafter"] == "llm" and data["text"] == text and data["instructions_text"] == ""
    assert data["note"]["counts"] == {"supported": 1, "unsupported": 1, "omissions": 0}
    assert data["note"]["sections"][0]["sentences"][1] == {
        "text": "Left knee pain.", "evidence": ["s0"], "supported": False, "flags": ["side left not said"]}
    assert wire(DraftFailedEvent("llm", "qwen", "drafting with llm failed (RuntimeError)")) == (
        '{"type": "draft_failed", "drafter": "llm", "model": "qwen", "message": "drafting with llm failed (RuntimeError)"}'
    )
    final = FinalEvent(True, Transcript((SEG,), 5.0, "en"), NOTE, "", DraftingEvent("llm", "qwen", 0, 0)).to_json()
    assert final["drafting"] == {"drafter": "llm", "model": "qwen", "done": 0, "total": 0}


def test_state_error_pong():
    assert wire(StateEvent("paused")) == '{"type": "state", "state": "paused", "message": ""}'
    assert wire(ErrorEvent("visit is stopped; cannot pause")) == '{"type": "error", "message": "visit is stopped; cannot pause"}'
    assert wire(PongEvent()) == '{"type": "pong"}'
