"""Where the ``audio-llm`` drafter cuts a visit's audio: windows no longer than the model
hears at once, cut in the pauses between transcript segments, each with the transcript
lines that fall in it.

Pure functions over typed results; nothing is logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scribe.types import Segment

# A pause is used for a cut only if the window it ends is at least this fraction of the
# limit: a pause near the window's start would make a sliver of a window (one more model
# call for a few seconds). With 0.5 a visit needs at most twice the minimum number of
# windows; cutting inside speech is the fallback when no such pause exists.
MIN_FILL = 0.5


@dataclass(frozen=True)
class AudioWindow:
    """One window of the visit.

    ``start``, ``end``: seconds from the start of the visit (``end - start`` at most the
    planning limit). ``segment_ids``: the transcript segments that overlap it, in
    transcript order (a segment cut by a window boundary is in both windows).
    ``at_pause``: the window ends in a pause between segments (or at the visit's end),
    not inside speech.
    """

    start: float
    end: float
    segment_ids: tuple[str, ...]
    at_pause: bool = True

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _pauses(segments: Sequence[Segment], duration: float) -> list[tuple[float, float]]:
    """Gaps between speech (the union of the segments' spans), (from, to) seconds,
    including the silence before the first segment and after the last."""
    spans = sorted((max(0.0, s.start), min(duration, max(s.start, s.end))) for s in segments)
    gaps: list[tuple[float, float]] = []
    at = 0.0
    for a, b in spans:
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if duration > at:
        gaps.append((at, duration))
    return gaps


def plan_windows(segments: Sequence[Segment], duration: float, limit: float) -> tuple[AudioWindow, ...]:
    """Consecutive windows covering 0..``duration`` seconds, each at most ``limit``
    seconds, each ending in the middle of a pause between segments where one lies in its
    last half (``MIN_FILL``), else at the limit.

    Parameters
    ----------
    segments : sequence of Segment
        The transcript (seconds from the start of the visit).
    duration : float
        The visit's length in seconds (the audio source's ``duration``; segments past it
        extend it).
    limit : float
        The longest window the model takes, seconds (> 0).

    Returns
    -------
    tuple of AudioWindow
        In time order, ``windows[0].start == 0``, each ``end`` the next ``start``, the
        last ``end`` the visit's end. Empty for an empty visit.
    """
    if limit <= 0:
        raise ValueError(f"window limit must be > 0 seconds, got {limit}")
    duration = max([duration, *(s.end for s in segments)], default=duration)
    gaps = _pauses(segments, duration)
    windows: list[AudioWindow] = []
    start = 0.0
    # 1 ms: below one sample's difference at 16 kHz is float noise, not audio.
    while duration - start > 1e-3:
        hard = start + limit
        if hard >= duration:
            end, at_pause = duration, True
        else:
            end, at_pause = hard, False
            for a, b in reversed(gaps):
                if a >= hard or b <= start + limit * MIN_FILL:
                    continue
                # The pause's middle (recogniser times are approximate), kept within the limit.
                end, at_pause = min((a + b) / 2, hard), True
                if end <= start + limit * MIN_FILL:
                    end, at_pause = min(b, hard), True
                break
        ids = tuple(s.id for s in segments if (s.start < end and s.end > start) or start <= s.start < end)
        windows.append(AudioWindow(start, end, ids, at_pause))
        start = end
    return tuple(windows)
