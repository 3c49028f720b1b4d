"""`scribe record`'s capture loop (``scribe.live.microphone.record_visit``) with a model
drafter: captured with the embedded drafter, then the note drafted by the model at the
stop, its progress announced; a model that fails leaves the embedded note, said in one
line. The microphone is a stand-in that delivers a sample visit's frames (the real
device path is tests/test_record.py's); the model a tiny random Llama."""

from __future__ import annotations

import queue
import wave
from types import SimpleNamespace

import pytest

from scribe.live.microphone import record_visit
from tests.conftest import SAMPLES
from tests.test_llm_drafter import build_model

pytest.importorskip("transformers")

SECONDS = 12


class ClipMicrophone:
    """Delivers ``SECONDS`` of cough_visit as 100 ms frames, as the device callback would."""

    name = "clip"
    rate = 16000

    def open(self, frames: queue.Queue):
        with wave.open(str(SAMPLES / "cough_visit.wav")) as w:
            pcm = w.readframes(SECONDS * 16000)
        for i in range(0, len(pcm), 3200):
            frames.put(bytearray(pcm[i : i + 3200]))
        return SimpleNamespace(stop=lambda: None, close=lambda: None, overflows=[0])


@pytest.fixture(scope="module")
def model_pipeline(pipeline, tmp_path_factory):
    from scribe.notes.llm import LlmDrafter, LlmParams
    from scribe.options import ScribeOptions
    from scribe.pipeline import Pipeline

    folder = build_model(tmp_path_factory.mktemp("record") / "tiny-llama", chat=False, max_positions=160)
    drafter = LlmDrafter.load(folder, LlmParams(max_new_tokens=8))
    return Pipeline(ScribeOptions(drafter="llm", note_model=str(folder)), speech_model=pipeline.speech_model,
                    detector=pipeline.detector, diarizer=pipeline.diarizer, role_labeller=pipeline.role_labeller,
                    drafter=drafter)


def test_record_drafts_with_the_model_at_the_stop(model_pipeline):
    said: list[str] = []
    result = record_visit(model_pipeline, ClipMicrophone(), None, seconds=SECONDS - 0.5, announce=said.append)
    assert result.transcript.segments
    assert result.note.drafter == "llm" and result.options.drafter == "llm"
    assert [m.name for m in result.models if m.kind == "drafter"] == ["llm"]
    assert said[1] == "Drafting the note with llm (tiny-llama)…"
    steps = [s for s in said[2:] if s.startswith("Drafting with llm (tiny-llama)… ")]
    total = int(steps[-1].rsplit("/", 1)[1])
    assert steps == [f"Drafting with llm (tiny-llama)… {k}/{total}" for k in range(1, total + 1)]
    assert "model_draft" in result.timings


def test_a_failing_model_keeps_the_embedded_note(model_pipeline, monkeypatch):
    def broken(prompt):
        raise RuntimeError("CUDA out of memory; the patient said chest pain")  # never shown

    monkeypatch.setattr(model_pipeline.drafter, "generate", broken)
    said: list[str] = []
    result = record_visit(model_pipeline, ClipMicrophone(), None, seconds=SECONDS - 0.5, announce=said.append)
    assert result.note.drafter == "extractive" and result.note.sentences()
    assert said[-1] == "drafting with llm failed (RuntimeError); the note is the embedded drafter's"
    assert not any("chest pain" in s for s in said)
