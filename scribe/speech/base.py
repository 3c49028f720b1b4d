"""The speech-model seam: audio in, timed text out.

A speech model takes audio (and optionally where the speech is) and returns segments of
timed text, each in the language it was said in (``Segment.language``), and, when asked,
translations of the speech not said in a target language (``Translation``s, timed;
``scribe.speech.translation`` places them on the final segments). Segments come back
without speakers; the diarizer's turns are attached later (``scribe.speakers.alignment``). A backend implements ``SpeechModel`` and is
registered in ``SPEECH_MODELS``; ``ScribeOptions.speech`` (``--speech``) names the one
to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Collection
from typing import Protocol

import numpy as np
from pyannote.core import Timeline

from scribe.registry import Registry
from scribe.types import ModelInfo, Segment, Translation


@dataclass(frozen=True)
class Recognition:
    """What a speech model heard in one piece of audio.

    Attributes
    ----------
    segments : tuple[Segment, ...]
        In time order, times in seconds from the start of the visit, ``speaker`` None
        and ``id`` empty (numbered once speakers are attributed), ``language`` set.
        ``words`` may be empty for a backend with segment-level timing only: alignment
        keeps such segments whole.
    language : str
        ISO 639-1 code of the language most of the piece's speech was in (or the one
        given), e.g. ``"en"``.
    translations : tuple[Translation, ...]
        In time order: the speech said in a language other than ``translate_to``,
        translated into it. Empty when not asked for.
    """

    segments: tuple[Segment, ...]
    language: str
    translations: tuple[Translation, ...] = ()


class SpeechModel(Protocol):
    """Recognises speech.

    Attributes
    ----------
    model_info : ModelInfo
        The model, echoed in every output (kind ``"speech"``).
    translates_to : frozenset[str]
        Languages its translations can be asked in (Whisper's translate task: English
        only, and only a multilingual model); empty: it does not translate.
    """

    model_info: ModelInfo
    translates_to: frozenset[str]

    def transcribe(
        self,
        audio: np.ndarray,
        speech: Timeline | None = None,
        offset: float = 0.0,
        language: str | None = None,
        *,
        translate_to: str | None = None,
        visit_languages: Collection[str] = (),
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
            ISO 639-1 code of the language spoken throughout; None: the model's
            default, or detected piece by piece (a visit may change language at turns).
        translate_to : str, optional
            Translate the speech said in any other language into this one (one of
            ``translates_to``); None: no translations.
        visit_languages : collection of str
            Languages already heard in this visit (earlier blocks, earlier live
            utterances), which a piece too short to show its languages may be decided
            among. Ignored when ``language`` is given.

        Returns
        -------
        Recognition
            Empty segments when nothing was said.

        Raises
        ------
        ModelError
            ``translate_to`` is not a language this model translates into.
        """
        ...


SPEECH_MODELS: Registry[SpeechModel] = Registry(
    "speech",
    {"whisper": "scribe.speech.whisper:WhisperSpeechModel"},
)
