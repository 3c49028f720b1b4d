"""Who spoke when, as reported: the diarizer's turns limited to where speech was heard;
and the transcript's marker where two speakers' speech went unrecognised.

The diarizer embeds the padded speech regions the recogniser is given (a word's onset
and tail must not be cut off), so its turns run ``speech_pad_ms`` past the speech at
every edge. ``speech_turns`` keeps the turns only where the detector's unpadded regions
are, widened by ``VadParams.turn_onset_pad_ms`` before and ``turn_offset_pad_ms`` after
(tuned on ami-debug trn: see ``scribe.options.VadParams``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

from scribe.types import Segment


def speech_turns(annotation: Annotation, speech: Timeline, before: float = 0.0, after: float = 0.0) -> Annotation:
    """``annotation``'s turns within ``speech`` (seconds; unpadded speech regions), each
    region widened by ``before`` seconds at its start and ``after`` at its end. A turn
    wholly outside it is dropped; ``uri`` is kept.

    Parameters
    ----------
    annotation : pyannote.core.Annotation
        The diarizer's turns.
    speech : pyannote.core.Timeline
        Where speech was heard (unpadded detector regions).
    before, after : float
        Seconds added before the start and after the end of every speech region.
    """
    if not annotation or not speech:
        return annotation.copy() if not annotation else Annotation(uri=annotation.uri)
    where = Timeline([Span(max(0.0, r.start - before), r.end + after) for r in speech]).support()
    cropped = annotation.crop(where, mode="intersection")
    cropped.uri = annotation.uri
    return cropped.support()


# The text of a marker segment: speech of two speakers meeting (an overlap, or a change
# of speaker inside continuous speech) where the recogniser returned no words. The
# transcript keeps it, one marker per speaker over that speaker's part, so what was said
# there is known to be missing rather than silently dropped; the note drafter skips it
# (``scribe.notes.utterances``).
OVERLAP_MARKER = "[overlap]"
# A word-free stretch, and each speaker's part of it, shorter than this is a pause
# between words or turns, not lost speech: Whisper's word times leave gaps of a few
# tenths of a second inside speech, and the reported turns reach 0.15-0.2 s
# (VadParams.turn_onset_pad_ms, turn_offset_pad_ms) into the pause between two speakers (on aci_d2n_visit a 2 ms sliver of one speaker
# in such a pause was marked before speakers' parts had to reach this too).
MIN_UNRECOGNISED = 0.5
_WORD_MARGIN = 0.15  # seconds around each word that count as covered by it


def is_marker(segment: Segment) -> bool:
    """Whether ``segment`` is an ``OVERLAP_MARKER`` (no words, nothing to draft from)."""
    return not segment.words and segment.text == OVERLAP_MARKER


def mark_unrecognised_overlap(segments: Sequence[Segment], annotation: Annotation) -> tuple[Segment, ...]:
    """``segments`` plus an ``OVERLAP_MARKER`` segment for each speaker of each stretch of
    turns (at least ``MIN_UNRECOGNISED`` s) that holds no recognised word and two or more
    speakers with at least ``MIN_UNRECOGNISED`` s each; renumbered s0, s1, ... in time
    order.

    Parameters
    ----------
    segments : sequence of Segment
        The transcript's segments with speakers (``attribute_speakers``).
    annotation : pyannote.core.Annotation
        Who spoke when (the reported turns).
    """
    covered = Timeline(
        [Span(max(0.0, w.start - _WORD_MARGIN), w.end + _WORD_MARGIN) for s in segments for w in s.words]
        + [Span(s.start, s.end) for s in segments if not s.words and s.end > s.start]
    ).support()
    speech = annotation.get_timeline().support()
    markers: list[Segment] = []
    for stretch in speech.extrude(covered) if covered else speech:
        if stretch.duration < MIN_UNRECOGNISED:
            continue
        part = annotation.crop(stretch, mode="intersection")
        heard = [lab for lab in part.labels() if part.label_duration(lab) >= MIN_UNRECOGNISED]
        if len(heard) < 2:
            continue
        for label in heard:
            for turn in part.label_timeline(label).support():
                markers.append(Segment("", round(turn.start, 3), round(turn.end, 3), OVERLAP_MARKER, (), label))
    if not markers:
        return tuple(segments)
    ordered = sorted([*segments, *markers], key=lambda s: (s.start, s.end))
    return tuple(replace(s, id=f"s{i}") for i, s in enumerate(ordered))
