"""Plan the pieces of speech a 30 s recogniser hears at once, cutting long speech.

Whisper hears 30 s at a time. Speech regions are grouped into chunks of at most
``max_seconds`` of speech, cut between regions. A region longer than that (one speaker
talking with no pause the VAD splits at) is cut too, at the quietest 100 ms in the last
``SEARCH_SECONDS`` before the limit: a chunk ends at the cut, the next starts
``OVERLAP_SECONDS`` before it (context for its first words) and keeps only the words
whose middle falls after the cut (``Chunk.keep``), so each word is kept once.

Before this, such a region was decoded long-form and Whisper's own window edges lost or
stretched words. Measured with tiny.en (greedy) on nine long turns made of
samples/aci_d2n_visit's clinician turns, each with its pauses and with them squeezed to
0.12 s, 26-43 s of speech (benchmarks/long_turn_wer.py; tests/test_long_turn.py holds
one): summed WER 0.961 squeezed and 1.019 with pauses long-form, 29 words deleted and 46
inserted; cut with this rule 0.940 and 0.952, 21 deleted and 52 inserted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from privacy import SAMPLE_RATE

# A cut region's chunks are at most max_seconds (28 s), not Whisper's full 30 s: with cuts
# allowed up to 29.9 s, the first chunk of tests/test_long_turn.py's turn lost a word at
# its end (3 deleted against 2 with its pauses).
# Context the chunk after a cut hears before it. Measured on the nine turns above (summed
# WER squeezed / with pauses, while faster-whisper's sampling fallback was still on):
# chunks meeting at the cut with no overlap 0.929 / 0.951; 1 s before the cut
# 0.905 / 0.943; 2 s 0.880 / 0.914; long-form 0.993 / 1.018. Overlap on both
# sides (the chunk before also running 1 s past the cut) was worse, 0.894 / 1.048: a
# chunk ending inside a word made tiny.en drop the 12 words before it once.
OVERLAP_SECONDS = 2.0
# The cut is looked for in the last SEARCH_SECONDS before the limit (chosen, not tuned):
# several gaps between words fall in any few seconds of speech, and chunks stay at least
# max_seconds - SEARCH_SECONDS long, so a long turn costs few encoder passes.
SEARCH_SECONDS = 6.0
# Energy frames for finding the cut: 20 ms RMS, averaged over 100 ms so a cut lands in a
# gap between words rather than in one quiet sample inside a vowel.
_FRAME = SAMPLE_RATE // 50
_SMOOTH_FRAMES = 5


@dataclass(frozen=True)
class Chunk:
    """Speech recognised in one decoder call.

    Attributes
    ----------
    regions : tuple[pyannote.core.Segment, ...]
        Speech regions, seconds from the start of the visit, in time order.
    keep : tuple[float, float]
        Words whose midpoint (seconds) lies in ``[keep[0], keep[1])`` belong to this
        chunk; ``(-inf, inf)`` unless the chunk is one piece of a cut region.
    """

    regions: tuple[Span, ...]
    keep: tuple[float, float] = (float("-inf"), float("inf"))

    def keeps(self, start: float, end: float) -> bool:
        middle = (start + end) / 2
        return self.keep[0] <= middle < self.keep[1]


def plan_chunks(
    audio: np.ndarray, speech: Timeline, offset: float, max_seconds: float, gap_seconds: float
) -> list[Chunk]:
    """Group ``speech`` into chunks of at most ``max_seconds`` of speech.

    Parameters
    ----------
    audio : np.ndarray
        (n,) float32 samples at 16 kHz, the audio ``speech`` is in (read, not changed).
    speech : Timeline
        Speech regions in seconds from the start of the visit.
    offset : float
        Seconds into the visit where ``audio`` starts.
    max_seconds : float
        Most speech (plus ``gap_seconds`` between regions) in one chunk; must exceed
        ``OVERLAP_SECONDS + SEARCH_SECONDS``.
    gap_seconds : float
        Silence the recogniser puts between two regions of one chunk.

    Returns
    -------
    list[Chunk]
        Regions no longer than ``max_seconds`` are grouped, in order, between regions;
        a longer region is cut into chunks of its own, each after the first starting
        ``OVERLAP_SECONDS`` before its cut.
    """
    chunks: list[Chunk] = []
    group: list[Span] = []
    total = 0.0
    for region in speech:
        if region.duration > max_seconds:
            if group:
                chunks.append(Chunk(tuple(group)))
                group, total = [], 0.0
            chunks.extend(_cut_region(audio, region, offset, max_seconds))
        elif group and total + gap_seconds + region.duration <= max_seconds:
            group.append(region)
            total += gap_seconds + region.duration
        else:
            if group:
                chunks.append(Chunk(tuple(group)))
            group, total = [region], region.duration
    if group:
        chunks.append(Chunk(tuple(group)))
    return chunks


def _cut_region(audio: np.ndarray, region: Span, offset: float, max_seconds: float) -> list[Chunk]:
    """Chunks of one long region, each at most ``max_seconds`` long, each after the
    first starting ``OVERLAP_SECONDS`` before its cut."""
    out: list[Chunk] = []
    start, keep_from = region.start, float("-inf")
    while region.end - start > max_seconds:
        latest = start + max_seconds
        cut = _quietest(audio, offset, latest - SEARCH_SECONDS, latest)
        out.append(Chunk((Span(start, cut),), (keep_from, cut)))
        start, keep_from = cut - OVERLAP_SECONDS, cut
    out.append(Chunk((Span(start, region.end),), (keep_from, float("inf"))))
    return out


def _quietest(audio: np.ndarray, offset: float, lo: float, hi: float) -> float:
    """The middle of the quietest 100 ms between ``lo`` and ``hi`` (seconds)."""
    a = max(int(round((lo - offset) * SAMPLE_RATE)), 0)
    b = min(int(round((hi - offset) * SAMPLE_RATE)), audio.size)
    n = (b - a) // _FRAME
    if n < _SMOOTH_FRAMES:
        return hi
    frames = audio[a : a + n * _FRAME].astype(np.float64).reshape(n, _FRAME)
    energy = np.convolve(np.mean(frames**2, axis=1), np.ones(_SMOOTH_FRAMES) / _SMOOTH_FRAMES, mode="valid")
    best = int(np.argmin(energy)) + _SMOOTH_FRAMES // 2
    return offset + (a + best * _FRAME + _FRAME // 2) / SAMPLE_RATE


# A pause, for splitting a region by language: 20 ms frames whose RMS is below this share
# of the region's loud frames (its 90th percentile RMS; -20 dB, chosen), for at least
# PAUSE_SECONDS. The VAD's padded regions join two turns across a pause under about
# 0.4 s (two 200 ms pads), and one turn in English and the next in Spanish must not be
# recognised in one language: in tests/language_visits.py's es_held_rash, an 11.5 s
# region joined an English question, a Spanish answer and the next question, was decided
# English, and the Spanish answer was lost. PAUSE_SECONDS tuned on the TUNING visits
# (benchmarks/language_id_rules.py; share of turn seconds given their language, any
# language / the site's): regions not cut 0.910 / 0.910, cut at 0.2 s 0.924 / 0.959, at
# 0.3 s 0.933 / 0.965 (HELD_OUT, reported: 0.909 / 0.899 -> 0.935 / 0.957).
PAUSE_LEVEL = 0.1
PAUSE_SECONDS = 0.3


def split_at_pauses(audio: np.ndarray, region: Span, offset: float) -> list[Span]:
    """``region`` cut in the middle of each pause in it (``PAUSE_LEVEL``,
    ``PAUSE_SECONDS``); the whole region when it has none.

    Parameters
    ----------
    audio : np.ndarray
        (n,) float32 samples at 16 kHz holding ``region`` (read, not changed).
    region : pyannote.core.Segment
        Seconds from the start of the visit.
    offset : float
        Seconds into the visit where ``audio`` starts.

    Returns
    -------
    list[pyannote.core.Segment]
        In order, covering ``region`` without gaps.
    """
    a = max(int(round((region.start - offset) * SAMPLE_RATE)), 0)
    b = min(int(round((region.end - offset) * SAMPLE_RATE)), audio.size)
    n = (b - a) // _FRAME
    if n < 2:
        return [region]
    frames = audio[a : a + n * _FRAME].astype(np.float64).reshape(n, _FRAME)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    quiet = rms < PAUSE_LEVEL * np.percentile(rms, 90)
    need = int(round(PAUSE_SECONDS * SAMPLE_RATE / _FRAME))
    cuts: list[float] = []
    run_start = None
    for i, q in enumerate([*quiet, False]):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            # A pause inside the region, not its (padded) edges.
            if i - run_start >= need and run_start > 0 and i < n:
                middle = (run_start + i) / 2
                cuts.append(offset + (a + middle * _FRAME) / SAMPLE_RATE)
            run_start = None
    edges = [region.start, *cuts, region.end]
    return [Span(x, y) for x, y in zip(edges, edges[1:])]
