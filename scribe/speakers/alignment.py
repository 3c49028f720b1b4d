"""Give recognised words to speakers, by time.

Whisper's segments follow pauses and punctuation, not speakers, so a segment can hold the
end of the clinician's question and the start of the patient's answer. Each word goes to
the diarization turn it overlaps most (or the nearest turn, for a word in a gap), and a
segment is split wherever consecutive words change speaker. A segment without word
timings (a backend with segment-level timing only) is kept whole and goes to the turn it
overlaps most (or the nearest), so no recognised text is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyannote.core import Annotation
from pyannote.core import Segment as Span

from scribe.types import Segment, Word


def attribute_speakers(segments: Sequence[Segment], annotation: Annotation) -> tuple[Segment, ...]:
    """Give ``segments`` their speakers from ``annotation``'s turns.

    Segments with words are split at speaker changes (each piece's text is its words
    joined); segments without words are kept whole, text unchanged. The result is in
    time order, numbered s0, s1, ...; speakers are None when there are no turns.
    """
    turns = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    out: list[Segment] = []
    for seg in segments:
        words = seg.words
        if not words:
            out.append(Segment("", seg.start, seg.end, seg.text, (), _speaker_of(seg.start, seg.end, turns)))
            continue
        speakers = [_speaker_of(w.start, w.end, turns) for w in words]
        run: list[Word] = [words[0]]
        for prev_spk, spk, w in zip(speakers, speakers[1:], words[1:]):
            if spk != prev_spk:
                out.append(_segment(run, prev_spk))
                run = []
            run.append(w)
        out.append(_segment(run, speakers[-1]))
    out.sort(key=lambda s: (s.start, s.end))
    return tuple(
        Segment(f"s{i}", s.start, s.end, s.text, s.words, s.speaker, s.role)
        for i, s in enumerate(out)
    )


def _segment(words: list[Word], speaker: str | None) -> Segment:
    return Segment(
        id="",
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.text for w in words),
        words=tuple(words),
        speaker=speaker,
    )


def _speaker_of(start: float, end: float, turns: list[tuple[float, float, str]]) -> str | None:
    """The turn overlapping ``start``-``end`` most, else the nearest one."""
    if not turns:
        return None
    span = Span(start, max(end, start + 1e-3))
    best, best_overlap = None, 0.0
    nearest, nearest_gap = None, float("inf")
    for start, end, label in turns:
        overlap = min(span.end, end) - max(span.start, start)
        if overlap > best_overlap:
            best, best_overlap = label, overlap
        gap = max(start - span.end, span.start - end, 0.0)
        if gap < nearest_gap:
            nearest, nearest_gap = label, gap
    return best if best is not None else nearest
