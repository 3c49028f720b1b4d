"""Place a speech model's translations on the transcript's final segments.

A translate task gives text timed about a sentence at a time (``Translation``), for the
same audio the recogniser heard; the transcript's segments are cut later, where the
speaker changes (``scribe.speakers.alignment``). Each translation goes to the final
segment, said in its source language, that it overlaps most in time (or, overlapping
none, the nearest within ``MAX_GAP_SECONDS``); a segment's translation is the texts it
received, in time order. A translation spanning two speakers' segments goes whole to
the one it overlaps most, and the other is left untranslated: the note leaves it out
(``Transcript.for_note``) and the page still shows what was said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from scribe.types import Segment, Translation

# A translation overlapping no segment of its language (its timestamps are the decoder's
# own, segment-level) goes to the nearest one within this many seconds; Whisper's
# segment timestamps fall within a second of the speech in the synthetic visits
# (tests/language_visits.py).
MAX_GAP_SECONDS = 1.0


def attach_translations(
    segments: Sequence[Segment], translations: Sequence[Translation], target: str
) -> tuple[Segment, ...]:
    """``segments`` with ``translation`` set on those said in a language other than
    ``target`` that a translation was placed on.

    Parameters
    ----------
    segments : sequence of Segment
        The visit's final segments (``language`` set), in time order.
    translations : sequence of Translation
        The speech model's translations into ``target``, in time order.
    target : str
        ISO 639-1 code of the note language.

    Returns
    -------
    tuple[Segment, ...]
        Same segments, same order and ids; a segment said in ``target`` is unchanged.
    """
    placed: dict[int, list[str]] = {}
    for tr in translations:
        if tr.target != target or not tr.text.strip():
            continue
        best, best_score = None, None
        for i, seg in enumerate(segments):
            if seg.language != tr.source:
                continue
            overlap = min(seg.end, tr.end) - max(seg.start, tr.start)
            score = overlap if overlap > 0 else -(max(seg.start - tr.end, tr.start - seg.end))
            if score < -MAX_GAP_SECONDS:
                continue
            if best_score is None or score > best_score:
                best, best_score = i, score
        if best is not None:
            placed.setdefault(best, []).append(tr.text.strip())
    return tuple(
        replace(seg, translation=" ".join(placed[i])) if i in placed else seg for i, seg in enumerate(segments)
    )
