"""Decoder repetitions with no audio behind them (issue 12, item 9).

A clinician coaching "breathe in, breathe out" six times and counting down, synthesized
with flite: the transcript must hold the six pairs said, no more, and a copy the
decoder wrote must leave no line of its own.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from scribe.audio.decode import decode_audio
from scribe.speech.repeats import repeated_without_audio
from tests.audio_tools import flite_path, write_audio

SR = 16000
PAIRS = 6
# (voice, text, seconds of silence after): flite's rms for the clinician, slt for the
# patient, as in samples/. The 0.4 s between pairs is a brisk coach's rhythm.
COACHING = (
    [("slt", "My chest feels tight when I walk up the stairs.", 0.6), ("rms", "Okay, let me listen to your lungs.", 0.7)]
    + [("rms", "Breathe in, breathe out.", 0.4)] * PAIRS
    + [("rms", "Three, two, one.", 0.4), ("slt", "Is everything okay?", 1.0)]
)


def _say(flite: str, voice: str, text: str, tmp_path) -> np.ndarray:
    wav = tmp_path / "say.wav"
    subprocess.run([flite, "-voice", voice, "--setf", "duration_stretch=1.1", "-t", text, "-o", str(wav)], check=True)
    audio = decode_audio(wav)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def coaching(tmp_path_factory):
    flite = flite_path()
    tmp = tmp_path_factory.mktemp("coaching")
    parts = [np.zeros(SR // 2, dtype=np.float32)]
    for voice, text, after in COACHING:
        parts += [_say(flite, voice, text, tmp), np.zeros(int(after * SR), dtype=np.float32)]
    return write_audio(tmp / "coaching.wav", np.concatenate(parts))


def _said(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def test_coaching_keeps_every_real_repetition_and_adds_none(pipeline, coaching):
    transcript = pipeline.process(coaching).transcript
    said = _said(transcript.text)
    assert said.count("breathe in") == PAIRS and said.count("breathe out") == PAIRS
    assert said.count("breathe") == 2 * PAIRS

    # the coaching is one speaker's, the patient's lines another's, and no line is made
    # of words without audio (a removed copy leaves no turn behind)
    words = [(w, seg.speaker) for seg in transcript.segments for w in seg.words]
    coach = {spk for w, spk in words if _said(w.text) in {"breathe", "in", "out"}}
    patient = {spk for w, spk in words if _said(w.text) in {"chest", "stairs", "everything"}}
    assert len(coach) == 1 and len(patient) == 1 and coach != patient
    assert all(any(w.end - w.start >= 0.02 for w in seg.words) for seg in transcript.segments)


def test_the_decoders_copy_is_removed_and_only_it(pipeline, coaching, monkeypatch):
    """The speech model alone: greedy decoding writes the pair a seventh time (the
    reproduction); the copy, with no audio behind it, is removed, the six real pairs
    stay."""
    from scribe.speech import whisper

    audio = decode_audio(coaching)
    speech = pipeline.detector(audio)

    def pairs(rec) -> tuple[int, int]:
        said = _said(" ".join(w.text for s in rec.segments for w in s.words))
        return said.count("breathe in"), said.count("breathe out")

    assert pairs(pipeline.speech_model.transcribe(audio, speech)) == (PAIRS, PAIRS)
    monkeypatch.setattr(whisper, "repeated_without_audio", lambda *a, **k: set())
    assert pairs(pipeline.speech_model.transcribe(audio, speech)) == (PAIRS + 1, PAIRS + 1)


def test_same_recording_same_transcript(pipeline, coaching):
    """Decoding is greedy: the same audio gives the same words (sampling at a raised
    temperature gave a different transcript of this recording run to run)."""
    first = pipeline.process(coaching).transcript
    second = pipeline.process(coaching).transcript
    assert [(s.text, s.speaker, s.words) for s in first.segments] == [(s.text, s.speaker, s.words) for s in second.segments]


def _words(spec: str) -> list[tuple[str, bool]]:
    """'breathe out BREATHE OUT': lower case has audio, upper case has none."""
    return [(w.lower(), not w.isupper()) for w in spec.split()]


@pytest.mark.parametrize(
    ("spec", "dropped"),
    [
        ("breathe in breathe out BREATHE IN BREATHE OUT three", {4, 5, 6, 7}),  # one copy
        ("breathe out BREATHE OUT BREATHE OUT", {2, 3, 4, 5}),  # two copies
        ("no NO", {1}),  # a word copied
        ("breathe in breathe out breathe in breathe out", set()),  # real repetition: audio
        ("breathe in breathe OUT BREATHE IN", set()),  # no audio, but copies nothing
        ("breathe out breathe IN", set()),  # "in" copies no word before it
        ("NOW hold", set()),  # nothing before it
    ],
)
def test_repetition_is_a_copy_without_audio(spec, dropped):
    words = _words(spec)
    assert repeated_without_audio(words, text=lambda w: w[0], has_audio=lambda w: w[1]) == dropped
