"""The voice activity detection seam: where in the audio someone is speaking.

VAD runs once per block of a recording (or continuously over a live stream); the speech
model recognises only its regions (so Whisper has no silence to hallucinate into) and
the diarizer embeds only them. A backend implements ``VoiceActivityDetector`` and is
registered in ``VAD_BACKENDS``; ``ScribeOptions.vad_backend`` names the one to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pyannote.core import Timeline

from scribe.options import VadParams
from scribe.registry import Registry
from scribe.types import ModelInfo


@dataclass(frozen=True)
class SpeechRegions:
    """Speech found in one piece of audio, two ways (seconds from the start of the visit).

    Attributes
    ----------
    padded : pyannote.core.Timeline
        The regions widened by ``speech_pad_ms`` each side (joined where they meet):
        what the speech model recognises and the diarizer embeds (a word's onset or
        tail is not cut off).
    unpadded : pyannote.core.Timeline
        The same regions as the detector's decision rules found them, unwidened: where
        speech is, for who-spoke-when (padding there is false alarm at every turn edge).
    """

    padded: Timeline
    unpadded: Timeline


class StreamingDetector(Protocol):
    """Speech detection over audio that arrives in pieces (a live visit).

    Each pushed sample is scored once; regions are re-derived from the kept scores on
    request. Times are seconds from the first sample pushed. One instance per stream:
    it keeps state between pushes.
    """

    @property
    def processed(self) -> float:
        """Seconds of audio scored so far (pushed audio not yet a whole scoring window
        is not counted)."""
        ...

    def push(self, samples: np.ndarray) -> None:
        """Score ``samples`` ((n,) float32 at 16 kHz, following what was pushed
        before). The detector zeroes any copy of them it keeps once scored."""
        ...

    def forget(self, before: float) -> None:
        """Drop what was kept about audio before ``before`` seconds (it is committed)."""
        ...

    def regions(self) -> list[tuple[float, float]]:
        """Unpadded speech regions (start, end), in seconds, among the kept scores, in
        time order; the last may still be open (ending at ``processed``)."""
        ...


class VoiceActivityDetector(Protocol):
    """Finds speech in audio.

    Attributes
    ----------
    model_info : ModelInfo
        The model, echoed in every output (kind ``"vad"``).
    params : VadParams
        Threshold, minimum speech and silence, and the padding added around regions
        (``speech_pad_ms``: live visits pad what they recognise by the same amount).
    """

    model_info: ModelInfo
    params: VadParams

    def __call__(self, audio: np.ndarray, offset: float = 0.0) -> Timeline:
        """Speech regions of ``audio``.

        Parameters
        ----------
        audio : np.ndarray
            (n,) float32 samples at 16 kHz, mono, in [-1, 1].
        offset : float
            Seconds into the visit where ``audio`` starts; added to every region.

        Returns
        -------
        pyannote.core.Timeline
            Padded speech regions in seconds from the start of the visit, disjoint and
            sorted; empty for silence or audio shorter than the model can judge.
        """
        ...

    def detect(self, audio: np.ndarray, offset: float = 0.0) -> SpeechRegions:
        """Speech regions of ``audio`` ((n,) float32 at 16 kHz) both padded (what
        ``__call__`` returns) and unpadded, from one pass of the model."""
        ...

    def stream(self, min_silence_ms: int | None = None) -> StreamingDetector:
        """A detector for one live stream, with this detector's decision rules except
        ``min_silence_ms`` (None: ``params.min_silence_ms``): live endpointing wants to
        notice a pause sooner than batch segmentation does."""
        ...


VAD_BACKENDS: Registry[VoiceActivityDetector] = Registry(
    "vad",
    {"silero": "scribe.audio.silero:SileroDetector"},
)
