"""Where a long recording is cut into blocks: never inside an utterance."""

from __future__ import annotations

from pyannote.core import Segment as Span
from pyannote.core import Timeline

from scribe.pipeline import _cut_before_open_speech

RATE = 16000


def test_speech_running_into_the_block_end_is_carried_over():
    speech = Timeline([Span(1.0, 4.0), Span(12.0, 20.0)])
    kept, cut = _cut_before_open_speech(speech, offset=0.0, size=20 * RATE)
    assert list(kept) == [Span(1.0, 4.0)]
    assert cut == 12 * RATE  # the next block starts where the open utterance starts


def test_offset_is_respected():
    speech = Timeline([Span(101.0, 104.0), Span(112.0, 119.8)])
    kept, cut = _cut_before_open_speech(speech, offset=100.0, size=20 * RATE)
    assert list(kept) == [Span(101.0, 104.0)] and cut == 12 * RATE


def test_closed_speech_keeps_the_whole_block():
    speech = Timeline([Span(1.0, 4.0), Span(12.0, 18.0)])
    kept, cut = _cut_before_open_speech(speech, offset=0.0, size=20 * RATE)
    assert kept == speech and cut == 20 * RATE


def test_an_utterance_longer_than_half_a_block_is_cut_at_the_end():
    # Carrying it would grow the next block without bound (memory); cut it instead.
    speech = Timeline([Span(2.0, 20.0)])
    kept, cut = _cut_before_open_speech(speech, offset=0.0, size=20 * RATE)
    assert kept == speech and cut == 20 * RATE


def test_no_speech():
    kept, cut = _cut_before_open_speech(Timeline(), offset=0.0, size=20 * RATE)
    assert not kept and cut == 20 * RATE
