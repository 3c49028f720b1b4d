"""Words go to speakers by time; a segment spanning a speaker change is split there."""

from __future__ import annotations

from pyannote.core import Annotation
from pyannote.core import Segment as Span

from scribe.speakers.alignment import attribute_speakers
from scribe.types import Segment, Word


def _segment(words: list[tuple[float, float, str]]) -> Segment:
    ws = tuple(Word(a, b, t) for a, b, t in words)
    return Segment("", ws[0].start, ws[-1].end, " ".join(w.text for w in ws), ws)


def test_segment_is_split_at_the_speaker_change():
    ann = Annotation()
    ann[Span(0.0, 2.0)] = "A"
    ann[Span(2.1, 4.0)] = "B"
    seg = _segment([(0.1, 0.5, "Any"), (0.6, 1.0, "fever?"), (2.2, 2.6, "No,"), (2.7, 3.0, "none.")])
    out = attribute_speakers([seg], ann)
    assert [(s.id, s.speaker, s.text) for s in out] == [("s0", "A", "Any fever?"), ("s1", "B", "No, none.")]
    assert out[1].start == 2.2 and out[1].end == 3.0


def test_word_in_a_gap_goes_to_the_nearest_turn():
    ann = Annotation()
    ann[Span(0.0, 1.0)] = "A"
    ann[Span(5.0, 6.0)] = "B"
    out = attribute_speakers([_segment([(4.2, 4.5, "Yes.")])], ann)
    assert out[0].speaker == "B"


def test_no_diarization_leaves_speaker_unknown():
    out = attribute_speakers([_segment([(0.0, 0.4, "Hello.")])], Annotation())
    assert out[0].speaker is None and out[0].text == "Hello."


def test_segments_are_renumbered_in_time_order():
    ann = Annotation()
    ann[Span(0.0, 10.0)] = "A"
    later, earlier = _segment([(5.0, 5.5, "later")]), _segment([(1.0, 1.5, "earlier")])
    out = attribute_speakers([later, earlier], ann)
    assert [(s.id, s.text) for s in out] == [("s0", "earlier"), ("s1", "later")]


def test_segment_without_words_is_kept_whole():
    """A speech backend with segment-level timing only: its text must not be lost."""
    ann = Annotation()
    ann[Span(0.0, 2.0)] = "A"
    ann[Span(2.0, 6.0)] = "B"
    wordless = Segment("", 1.5, 4.0, "I have had a cough for a week.")
    out = attribute_speakers([wordless, _segment([(0.2, 0.8, "Hello.")])], ann)
    assert [(s.id, s.speaker, s.text, s.words) for s in out] == [
        ("s0", "A", "Hello.", out[0].words),
        ("s1", "B", "I have had a cough for a week.", ()),
    ]
    assert (out[1].start, out[1].end) == (1.5, 4.0)


def test_segment_without_words_in_a_gap_goes_to_the_nearest_turn():
    ann = Annotation()
    ann[Span(0.0, 1.0)] = "A"
    ann[Span(5.0, 6.0)] = "B"
    out = attribute_speakers([Segment("", 3.5, 4.5, "Yes.")], ann)
    assert [(s.speaker, s.text) for s in out] == [("B", "Yes.")]
