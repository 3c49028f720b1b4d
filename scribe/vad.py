"""Speech regions with silero-vad's bundled ONNX model.

Run once per block; both the speech model (which then sees only speech, so Whisper has
no silence to hallucinate into) and the diarizer (which embeds only speech) use its
regions.
"""

from __future__ import annotations

import logging

import numpy as np
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from scribe.audio import SAMPLE_RATE
from scribe.models import vad_model
from scribe.options import VadParams
from scribe.types import ModelInfo

logger = logging.getLogger("scribe.vad")

# Digital silence (a muted mic, padding) is skipped without running the network, which
# keeps long silent stretches of a recording nearly free.
_SILENCE_RMS = 1e-4


class SpeechDetector:
    def __init__(self, params: VadParams = VadParams()):
        import silero_vad
        import torch

        self.params = params
        path, self.info = vad_model()
        self._torch = torch
        self._get_speech_timestamps = silero_vad.get_speech_timestamps
        self._model = silero_vad.load_silero_vad(onnx=True)
        logger.debug("loaded VAD %s", path)

    @property
    def model_info(self) -> ModelInfo:
        return self.info

    def __call__(self, audio: np.ndarray, offset: float = 0.0) -> Timeline:
        """Speech regions of ``audio`` in seconds, shifted by ``offset``."""
        timeline = Timeline()
        if audio.size < SAMPLE_RATE // 10 or float(np.sqrt(np.mean(audio**2))) < _SILENCE_RMS:
            return timeline
        p = self.params
        self._model.reset_states()
        stamps = self._get_speech_timestamps(
            self._torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
            self._model,
            threshold=p.threshold,
            sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=p.min_speech_ms,
            min_silence_duration_ms=p.min_silence_ms,
            speech_pad_ms=p.speech_pad_ms,
        )
        for s in stamps:
            timeline.add(Span(offset + s["start"] / SAMPLE_RATE, offset + s["end"] / SAMPLE_RATE))
        return timeline.support()
