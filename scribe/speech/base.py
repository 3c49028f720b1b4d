"""The speech-model seam: audio in, timed text out.

A speech model takes audio (and optionally where the speech is) and returns segments of
timed text. Segments come back without speakers; the diarizer's turns are attached
later (``scribe.speakers.alignment``). A backend implements ``SpeechModel`` and is
registered in ``SPEECH_MODELS``; ``ScribeOptions.speech`` (``--speech``) names the one
to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pyannote.core import Timeline

from scribe.registry import Registry
from scribe.types import ModelInfo, Segment


@dataclass(frozen=True)
class Recognition:
    """What a speech model heard in one piece of audio.

    Attributes
    ----------
    segments : tuple[Segment, ...]
        In time order, times in seconds from the start of the visit, ``speaker`` None
        and ``id`` empty (numbered once speakers are attributed). ``words`` may be
        empty for a backend with segment-level timing only: alignment keeps such
        segments whole.
    language : str
        ISO 639-1 code of the language recognised (or given), e.g. ``"en"``; passed
        back in for the next piece so one visit is recognised in one language.
    """

    segments: tuple[Segment, ...]
    language: str


class SpeechModel(Protocol):
    """Recognises speech.

    Attributes
    ----------
    model_info : ModelInfo
        The model, echoed in every output (kind ``"speech"``).
    """

    model_info: ModelInfo

    def transcribe(
        self,
        audio: np.ndarray,
        speech: Timeline | None = None,
        offset: float = 0.0,
        language: str | None = None,
    ) -> Recognition:
        """Recognise ``audio``.

        Parameters
        ----------
        audio : np.ndarray
            (n,) float32 samples at 16 kHz, mono, in [-1, 1]. Not modified.
        speech : pyannote.core.Timeline, optional
            A hint: the speech regions (seconds from the start of the visit, as the VAD
            returns them). None: the backend finds the speech itself.
        offset : float
            Seconds into the visit where ``audio`` starts.
        language : str, optional
            Language code to recognise in; None: the model's default or detection.

        Returns
        -------
        Recognition
            Empty segments when nothing was said.
        """
        ...


SPEECH_MODELS: Registry[SpeechModel] = Registry(
    "speech",
    {"whisper": "scribe.speech.whisper:WhisperSpeechModel"},
)
