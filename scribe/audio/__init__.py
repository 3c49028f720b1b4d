"""Audio in: decoding a recording to 16 kHz mono float32 (``decode``) and finding where
someone speaks in it (voice activity detection).

The VAD seam is ``VoiceActivityDetector`` (batch regions of a block, plus ``stream()``
for live audio); backends are listed in ``VAD_BACKENDS`` and chosen by
``ScribeOptions.vad_backend``. A new VAD backend is one module here (like ``silero.py``)
implementing the protocol, plus one entry in ``VAD_BACKENDS`` (``scribe/audio/vad.py``).
Importing this package loads no model.
"""

from privacy import SAMPLE_RATE  # samples per second of all audio (16 kHz), defined once in privacy
from scribe.audio.vad import VAD_BACKENDS, SpeechRegions, StreamingDetector, VoiceActivityDetector

__all__ = ["SAMPLE_RATE", "VAD_BACKENDS", "SpeechRegions", "StreamingDetector", "VoiceActivityDetector"]
