"""Find decoder repetitions: words the recogniser wrote again with no audio behind them.

Whisper's decoder can loop, writing the words it just wrote once more. Word timing
(cross-attention aligned to the audio) gives such a copy no audio: zero length or a
single 20 ms frame, or a place in the silence put between regions or past the end of
the speech. Real repeated speech ("breathe in, breathe out" six times) has audio behind
every copy, so a copy is dropped only when both hold: it repeats the words just before
it, and no word of it has audio behind it.

Measured with tiny.en on a clinician coaching "breathe in, breathe out" six times
(tests/test_repetitions.py): greedy decoding wrote the pair seven times, the seventh
squeezed into one instant (three words of zero length, one of one frame); this drops
those four words and keeps the six real pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from scribe.scoring import normalize_text

W = TypeVar("W")

# Whisper's word timing is quantised to its 20 ms encoder frames. A copy the decoder wrote
# after the audio it heard is squeezed to zero or one frame (the coaching recording:
# four words at one instant, or three at one instant and one a single frame long); the
# words tiny.en heard in the samples are longer, bar a rare short word (one "but" of 20 ms).
FRAME_SECONDS = 0.02


def repeated_without_audio(
    words: Sequence[W], text: Callable[[W], str], has_audio: Callable[[W], bool]
) -> set[int]:
    """Indices of ``words`` that are a decoder repetition.

    A repetition is a run of consecutive words none of which ``has_audio``, whose
    normalised texts repeat, with some period p, the p words just before the run (a
    copy of them, or several copies). A run of words without audio that repeats
    nothing is kept: it may be real speech the timing squeezed.

    Parameters
    ----------
    words : sequence
        In decoding order.
    text : callable
        A word's text.
    has_audio : callable
        Whether a word has audio behind it.

    Returns
    -------
    set[int]
        Indices to drop; empty when there is no such run.
    """
    norm = [normalize_text(text(w)) for w in words]
    drop: set[int] = set()
    i = 0
    while i < len(words):
        if has_audio(words[i]):
            i += 1
            continue
        j = i
        while j < len(words) and not has_audio(words[j]):
            j += 1
        drop.update(_repeating_part(norm, i, j))
        i = j
    return drop


def _repeating_part(norm: list[str], i: int, j: int) -> range:
    """The longest prefix of the run ``norm[i:j]`` that copies the words before it."""
    best = 0
    for period in range(1, i + 1):
        n = 0
        while i + n < j and norm[i + n] and norm[i + n] == norm[i + n - period]:
            n += 1
        # at least one whole copy of the period: "out" after "breathe out" is no copy
        # of "breathe out", a lone repeated word is a copy of one word
        if n >= period:
            best = max(best, n - n % period)
    return range(i, i + best)
