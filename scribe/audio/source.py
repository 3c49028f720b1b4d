"""A recording file as an ``AudioSource`` (``scribe.notes.base``): the visit's audio for a
drafter that listens when no privacy-mode buffer holds it (standard-mode batch, the
pipeline without a visit).

Each window is decoded from the file on demand with ``scribe.audio.decode.iter_blocks``
and zeroed on exit; the blocks decoded on the way to it are zeroed as soon as they are
passed. Nothing is written anywhere: the file is the only copy on disk, as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from privacy import SAMPLE_RATE
from scribe.audio.decode import AudioInfo, iter_blocks, probe

# Blocks decoded while seeking a window: long enough that a 30-40 s window spans at most
# two blocks, short enough that a block is a few MB of float32 (60 s = 3.8 MB).
_BLOCK_SECONDS = 60.0


class FileAudioSource:
    """Windows of a recording, decoded from the file when asked for.

    Parameters
    ----------
    path : str or os.PathLike, or AudioInfo
        Any recording ``scribe.audio.decode.probe`` reads.
    duration : float, optional
        Seconds of audio the pipeline decoded (the visit's length). Default: the
        container's declared duration (0.0 when it declares none).

    Notes
    -----
    ``window(start, end)`` decodes from the start of the file up to ``end`` (PyAV
    decoding is sequential; a WAV decodes at hundreds of times real time), so drafting
    a visit in windows costs a few decodes of the file; ``duration`` seconds are
    never held at once: one block of ``_BLOCK_SECONDS`` and the window.
    """

    def __init__(self, path: str | os.PathLike | AudioInfo, duration: float | None = None):
        self._info = path if isinstance(path, AudioInfo) else probe(path)
        self.duration = float(duration if duration is not None else self._info.declared_duration or 0.0)

    @contextmanager
    def window(self, start: float, end: float) -> Iterator[np.ndarray]:
        """(n,) float32 at 16 kHz from ``start`` to ``end`` seconds (clipped to the file),
        zeroed on exit (on failure too)."""
        first = max(0, round(start * SAMPLE_RATE))
        last = max(first, round(end * SAMPLE_RATE))
        out = np.zeros(last - first, dtype=np.float32)
        filled = 0
        try:
            at = 0  # first sample of the current block
            blocks = iter_blocks(self._info, _BLOCK_SECONDS)
            try:
                for block in blocks:
                    lo, hi = max(first, at), min(last, at + block.size)
                    if lo < hi:
                        out[lo - first : hi - first] = block[lo - at : hi - at]
                        filled = hi - first
                    at += block.size
                    block.fill(0.0)
                    if at >= last:
                        break
            finally:
                blocks.close()
            window = out[:filled]
            yield window
        finally:
            out.fill(0.0)
