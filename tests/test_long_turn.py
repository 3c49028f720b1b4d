"""One speaker talking longer than Whisper's 30 s window with no pause (issue 12, item 8).

The long turns are real sample speech: clinician turns of samples/aci_d2n_visit joined
and with every pause between words squeezed to at most 0.12 s, so the VAD gives one
region longer than 30 s. Recognised long-form, words at Whisper's own window edge were
lost or stretched; cut with overlap, every word heard when the same turns are said with
their pauses is heard, none twice, none stretched.
"""

from __future__ import annotations

import json

import jiwer
import numpy as np
import pytest
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from scribe.audio.decode import decode_audio
from scribe.scoring import normalize_text
from scribe.speech.chunks import OVERLAP_SECONDS, plan_chunks
from tests.conftest import SAMPLES

SR = 16000
# Two clinician turns of aci_d2n_visit, by start time in its reference: 37.5 s of speech
# once squeezed (the turn was 39 s). Long-form, tiny.en lost a word at its 30 s
# window edge here and stretched another over 1.12 s.
LONG_TURN = (188.54, 213.69)
# Pauses in the squeezed turns: at most 0.12 s, below the VAD's 0.3 s minimum silence.
MAX_PAUSE = 0.12
# Every word of this turn, said with its pauses, takes at most 0.60 s (tiny.en).
LONGEST_WORD = 1.0


@pytest.fixture(scope="module")
def visit():
    ref = json.loads((SAMPLES / "aci_d2n_visit.json").read_text())
    return decode_audio(SAMPLES / "aci_d2n_visit.wav"), ref["segments"]


def _turn(visit, start: float) -> tuple[np.ndarray, str]:
    audio, segments = visit
    seg = next(s for s in segments if abs(s["start"] - start) < 0.01)
    return audio[int(seg["start"] * SR) : int(seg["end"] * SR)].copy(), seg["text"]


def _squeeze(x: np.ndarray) -> np.ndarray:
    """``x`` with every quiet stretch (10 ms frames 35 dB below the loudest) cut to
    ``MAX_PAUSE``."""
    frame = SR // 100
    n = x.size // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9
    loud = 20 * np.log10(rms / rms.max()) > -35
    out, i = [], 0
    while i < n:
        j = i + 1
        while j < n and loud[j] == loud[i]:
            j += 1
        keep = j - i if loud[i] else min(j - i, int(MAX_PAUSE * SR / frame))
        out.append(x[i * frame : (i + keep) * frame])
        i = j
    return np.concatenate(out)


def _between_pauses(x: np.ndarray) -> Timeline:
    """The stretches of ``x`` between its pauses of 0.2 s or more (10 ms frames 35 dB
    below the loudest), each padded by 0.1 s."""
    frame = SR // 100
    n = x.size // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -35)
    starts = [loud[0]] + [b for a, b in zip(loud, loud[1:]) if b - a >= 20]
    ends = [a for a, b in zip(loud, loud[1:]) if b - a >= 20] + [loud[-1]]
    return Timeline([Span(max(a / 100 - 0.1, 0.0), min((b + 1) / 100 + 0.1, x.size / SR)) for a, b in zip(starts, ends)])


def _words(rec) -> list:
    return [w for s in rec.segments for w in s.words]


def _alignment(reference: str, rec):
    return jiwer.process_words(normalize_text(reference), normalize_text(" ".join(w.text for w in _words(rec))))


def test_long_turn_without_pause_keeps_every_word(pipeline, visit):
    turns = [_turn(visit, start) for start in LONG_TURN]
    reference = " ".join(text for _, text in turns)
    long_turn = np.concatenate([_squeeze(a) for a, _ in turns])
    speech = pipeline.detector(long_turn)
    assert len(speech) == 1 and speech[0].duration > 30.0  # one region past Whisper's window

    # the same turns said with their pauses, recognised in regions cut at those pauses
    gap = np.zeros(SR, dtype=np.float32)
    paused = np.concatenate([turns[0][0], gap, turns[1][0]])
    regions = _between_pauses(paused)
    assert max(r.duration for r in regions) < 28.0
    separate = _alignment(reference, pipeline.speech_model.transcribe(paused, regions))

    rec = pipeline.speech_model.transcribe(long_turn, speech)
    together = _alignment(reference, rec)
    assert together.deletions <= separate.deletions  # no word lost at a window edge
    assert together.insertions <= separate.insertions  # none doubled at a cut
    assert together.wer <= separate.wer
    words = _words(rec)
    assert max(w.end - w.start for w in words) <= LONGEST_WORD
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))
    said = [normalize_text(w.text) for w in words]
    assert not [a for a, b in zip(said, said[1:]) if a == b]  # the turn repeats no word


def test_long_region_is_cut_with_overlap_at_its_quietest_point():
    """A 70 s region of noise with one 0.2 s silence 24.5 s in: the first cut is in that
    silence; every chunk fits the 28 s limit; a chunk ends at its cut, the next starts
    OVERLAP_SECONDS before it, and their kept spans meet exactly at the cut."""
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 70 * SR).astype(np.float32)
    audio[int(24.4 * SR) : int(24.6 * SR)] = 0.0
    chunks = plan_chunks(audio, Timeline([Span(0.0, 70.0)]), 0.0, 28.0, 0.2)
    assert len(chunks) == 3
    assert 24.4 < chunks[0].keep[1] < 24.6  # inside the silence
    assert chunks[0].keep[0] == float("-inf") and chunks[-1].keep[1] == float("inf")
    for a, b in zip(chunks, chunks[1:]):
        cut = a.keep[1]
        assert b.keep[0] == cut
        assert a.regions[-1].end == cut
        assert b.regions[0].start == pytest.approx(cut - OVERLAP_SECONDS)
    assert all(c.regions[0].duration <= 28.0 for c in chunks)
    assert chunks[0].regions[0].start == 0.0 and chunks[-1].regions[0].end == 70.0


def test_short_regions_are_grouped_between_regions_as_before():
    audio = np.zeros(60 * SR, dtype=np.float32)
    speech = Timeline([Span(0, 10), Span(11, 20), Span(21, 30), Span(31, 35)])
    chunks = plan_chunks(audio, speech, 0.0, 28.0, 0.2)
    assert [[(r.start, r.end) for r in c.regions] for c in chunks] == [[(0, 10), (11, 20)], [(21, 30), (31, 35)]]
    assert all(c.keep == (float("-inf"), float("inf")) for c in chunks)
