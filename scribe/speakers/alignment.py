"""Give recognised words to speakers, by time.

Whisper's segments follow pauses and punctuation, not speakers, so a segment can hold the
end of the clinician's question and the start of the patient's answer. Each word first
goes to the diarization turn it overlaps most (or the nearest turn, for a word in a gap).
Then every speaker change in the visit's word sequence is moved, within ``tolerance``
seconds, to the word boundary people change turns at: the longest pause there, a
sentence's end and a recogniser segment's end counting as more pause. The diarizer's
change points jitter: its 1.6 s windows every 0.25 s, median-filtered, put a change up
to a few tenths of a second early or late, which gave the last word of a turn to the
next speaker ("...anyone who was | sick?"). A segment is split wherever consecutive
words change speaker. A segment without word timings (a backend with segment-level
timing only) is kept whole and goes to the turn it overlaps most (or the nearest), so
no recognised text is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyannote.core import Annotation
from pyannote.core import Segment as Span

from scribe.types import Segment, Word

# Seconds a speaker change may move to a better word boundary. Tuned on ami-debug
# trn01-trn09 (benchmarks/written_rttm_der.py, words given to the reference speaker at
# their centre, 321 words): 0 (plain overlap) 287, 0.3 s 289, 0.6 s 292, 0.9 s 296. On
# the samples (1,099 words) every tolerance gives 1,096-1,097; reported on ami dev
# (103 words): 102 plain, 96 at 0.9 (see benchmarks/results/written_rttm_der.json).
BOUNDARY_TOLERANCE = 0.9
# How much a sentence end (".", "?", "!") and a recogniser segment's end weigh, in
# seconds of pause, when choosing where a turn changes.
_SENTENCE_END_BONUS = 0.3
_SEGMENT_END_BONUS = 0.2


def attribute_speakers(
    segments: Sequence[Segment], annotation: Annotation, *, tolerance: float = BOUNDARY_TOLERANCE
) -> tuple[Segment, ...]:
    """Give ``segments`` their speakers from ``annotation``'s turns.

    Segments with words are split at speaker changes (each piece's text is its words
    joined); segments without words are kept whole, text unchanged. The result is in
    time order, numbered s0, s1, ...; speakers are None when there are no turns.

    Parameters
    ----------
    segments : sequence of Segment
        Recognised segments (seconds from the start of the visit).
    annotation : pyannote.core.Annotation
        Speaker turns.
    tolerance : float
        Seconds a speaker change between words may move to a pause or sentence end
        (0: each word to the turn it overlaps most, nothing moved).
    """
    turns = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    out: list[Segment] = []
    worded: list[tuple[int, Word]] = []  # (segment index, word), every word of the visit
    for i, seg in enumerate(segments):
        if seg.words:
            worded.extend((i, w) for w in seg.words)
        else:
            out.append(
                Segment("", seg.start, seg.end, seg.text, (), _speaker_of(seg.start, seg.end, turns),
                        language=seg.language)
            )
    worded.sort(key=lambda iw: (iw[1].start, iw[1].end))
    speakers = [_speaker_of(w.start, w.end, turns) for _, w in worded]
    if tolerance > 0:
        speakers = _move_changes(worded, speakers, tolerance)
    # Rebuild each segment's words in order, split wherever the speaker changes.
    by_segment: dict[int, list[tuple[Word, str | None]]] = {}
    for (i, w), spk in zip(worded, speakers):
        by_segment.setdefault(i, []).append((w, spk))
    for i, pairs in by_segment.items():
        language = segments[i].language  # each piece is said in its segment's language
        run: list[Word] = [pairs[0][0]]
        for (_, prev_spk), (w, spk) in zip(pairs, pairs[1:]):
            if spk != prev_spk:
                out.append(_segment(run, prev_spk, language))
                run = []
            run.append(w)
        out.append(_segment(run, pairs[-1][1], language))
    out.sort(key=lambda s: (s.start, s.end))
    return tuple(
        Segment(f"s{i}", s.start, s.end, s.text, s.words, s.speaker, s.role, language=s.language)
        for i, s in enumerate(out)
    )


def _move_changes(
    worded: list[tuple[int, Word]], speakers: list[str | None], tolerance: float
) -> list[str | None]:
    """Move each speaker change (between words k-1 and k) to the word boundary m whose
    pause lies within ``tolerance`` seconds of the pause at k, between the neighbouring changes, that looks most
    like a change of turn: the longest pause, plus a bonus after a sentence end or a
    segment end. Ties keep the diarizer's boundary."""
    speakers = list(speakers)
    changes = [k for k in range(1, len(speakers)) if speakers[k] != speakers[k - 1]]
    for n, k in enumerate(changes):
        lo = changes[n - 1] + 1 if n else 1
        hi = changes[n + 1] - 1 if n + 1 < len(changes) else len(speakers) - 1
        at_lo, at_hi = _gap(worded, k)
        best, best_score = k, _pause_score(worded, k)
        for m in range(lo, hi + 1):
            lo_m, hi_m = _gap(worded, m)
            if m == k or max(lo_m - at_hi, at_lo - hi_m) > tolerance:
                continue
            s = _pause_score(worded, m)
            if s > best_score + 1e-9:
                best, best_score = m, s
        before, after = speakers[k - 1], speakers[k]
        for j in range(min(best, k), max(best, k)):
            speakers[j] = after if best < k else before
    return speakers


def _gap(worded: list[tuple[int, Word]], m: int) -> tuple[float, float]:
    """The pause between words m-1 and m (start, end) in seconds."""
    return worded[m - 1][1].end, max(worded[m - 1][1].end, worded[m][1].start)


def _pause_score(worded: list[tuple[int, Word]], m: int) -> float:
    (seg_a, a), (seg_b, b) = worded[m - 1], worded[m]
    score = max(0.0, b.start - a.end)
    if a.text.rstrip().endswith((".", "?", "!")):
        score += _SENTENCE_END_BONUS
    if seg_a != seg_b:
        score += _SEGMENT_END_BONUS
    return score


def _segment(words: list[Word], speaker: str | None, language: str | None) -> Segment:
    return Segment(
        id="",
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.text for w in words),
        words=tuple(words),
        speaker=speaker,
        language=language,
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
