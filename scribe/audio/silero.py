"""The silero VAD backend: speech regions with silero-vad's bundled TorchScript model.

``SileroDetector`` is the batch detector (run once per block) and makes the streaming
one (``stream``) for live visits; both apply the same decision rules, so the same audio
gives the same speech either way.

Why TorchScript and not the bundled ONNX model: importing onnxruntime (1.32) starts its
native telemetry client, which writes ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``
(a device id and an event queue) and ``$TMPDIR/.ses``, and may upload from native code
outside Scribe's network guard. ``disable_telemetry_events()`` runs too late to stop it
(the files are written on import; checked on 1.32.0), so the VAD loads no onnxruntime at
all. Measured on the three samples (``samples/*.wav``, 2-core CPU, one torch thread):
the same speech regions to the sample (scores differ by at most 3e-5), at about twice
the cost: 0.7-1.2 s per minute of audio in batch instead of 0.3-0.4 s, 0.8-1.5 s per
minute streamed instead of 0.4-0.9 s (under 2.5% of real time).
"""

from __future__ import annotations

import logging

import numpy as np
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from privacy import SAMPLE_RATE
from scribe.audio.vad import SpeechRegions
from scribe.models import vad_model
from scribe.options import ScribeOptions, VadParams
from scribe.types import ModelInfo

logger = logging.getLogger("scribe.audio.silero")

# Digital silence (a muted mic, padding) is skipped without running the network, which
# keeps long silent stretches of a recording nearly free.
_SILENCE_RMS = 1e-4
_WINDOW = 512  # samples: silero's window at 16 kHz


class SileroDetector:
    """Silero VAD over whole blocks (``__call__``), and per-stream detectors (``stream``).

    Parameters
    ----------
    params : VadParams
        Threshold, minimum speech/silence and padding (``ScribeOptions.vad``).

    Raises
    ------
    ModelError
        The bundled model cannot be found (``scribe.models.vad_model``).
    """

    def __init__(self, params: VadParams = VadParams()):
        import silero_vad
        import torch

        self.params = params
        path, self.info = vad_model()
        self._torch = torch
        self._from_probs = silero_vad.get_speech_timestamps_from_probs
        self._model = silero_vad.load_silero_vad(onnx=False)
        logger.debug("loaded VAD %s", path)

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "SileroDetector":
        return cls(options.vad)

    @property
    def model_info(self) -> ModelInfo:
        return self.info

    def __call__(self, audio: np.ndarray, offset: float = 0.0) -> Timeline:
        """Padded speech regions of ``audio`` ((n,) float32 at 16 kHz) in seconds,
        shifted by ``offset``. Re-runs the network over all of ``audio``."""
        return self.detect(audio, offset).padded

    def detect(self, audio: np.ndarray, offset: float = 0.0) -> SpeechRegions:
        """Speech regions of ``audio`` ((n,) float32 at 16 kHz), padded and unpadded, in
        seconds shifted by ``offset``: the network scores every 32 ms window once, and
        silero's own decision rules (``get_speech_timestamps_from_probs``) read the
        scores twice, with ``speech_pad_ms`` and with none."""
        if audio.size < SAMPLE_RATE // 10 or float(np.sqrt(np.mean(audio**2))) < _SILENCE_RMS:
            return SpeechRegions(Timeline(), Timeline())
        probs = self._scores(audio)
        return SpeechRegions(
            self._regions(probs, audio.size, offset, self.params.speech_pad_ms),
            self._regions(probs, audio.size, offset, 0),
        )

    def _scores(self, audio: np.ndarray) -> list[float]:
        """Speech probability of each 512-sample window (the last zero-padded), as
        ``silero_vad.get_speech_timestamps`` computes them."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        self._model.reset_states()
        probs = []
        with torch.inference_mode():
            for i in range(0, x.numel(), _WINDOW):
                chunk = x[i : i + _WINDOW]
                if chunk.numel() < _WINDOW:
                    chunk = torch.nn.functional.pad(chunk, (0, _WINDOW - chunk.numel()))
                probs.append(float(self._model(chunk, SAMPLE_RATE)))
        return probs

    def _regions(self, probs: list[float], n: int, offset: float, pad_ms: int) -> Timeline:
        p = self.params
        stamps = self._from_probs(
            probs,
            sampling_rate=SAMPLE_RATE,
            threshold=p.threshold,
            min_speech_duration_ms=p.min_speech_ms,
            min_silence_duration_ms=p.min_silence_ms,
            speech_pad_ms=pad_ms,
            audio_length_samples=n,
        )
        timeline = Timeline()
        for s in stamps:
            timeline.add(Span(offset + s["start"] / SAMPLE_RATE, offset + s["end"] / SAMPLE_RATE))
        return timeline.support()

    def stream(self, min_silence_ms: int | None = None) -> "SileroStream":
        """A streaming detector for one live visit (its own model instance: the network
        keeps recurrent state between windows)."""
        return SileroStream(self.params, min_silence_ms=min_silence_ms)


class SileroStream:
    """Silero run once per 32 ms window as audio arrives, for live visits.

    The batch detector re-runs the network over everything it is given; over a growing
    live tail that cost 25 ms per 100 ms frame. Here each window is scored once (the
    network keeps its recurrent state between windows, so every session has its own
    model instance) and speech regions are re-derived from the kept scores, which is
    cheap. Regions are returned unpadded: the caller pads what it recognises.

    The decision rules are the batch detector's (threshold with hysteresis, minimum
    speech, minimum silence), so the same audio gives the same speech either way, except
    that ``min_silence_ms`` is the caller's: live endpointing wants to notice a pause
    sooner than batch segmentation does.
    """

    WINDOW = 512  # samples: silero's window at 16 kHz

    def __init__(self, params: VadParams = VadParams(), *, min_silence_ms: int | None = None):
        import silero_vad
        import torch

        self.params = params
        self._min_silence = (params.min_silence_ms if min_silence_ms is None else min_silence_ms) / 1000
        self._torch = torch
        self._model = silero_vad.load_silero_vad(onnx=False)
        self._pending = np.zeros(0, dtype=np.float32)
        self._probs: list[float] = []
        self._base = 0  # window index (from the start of the visit) of _probs[0]

    @property
    def processed(self) -> float:
        """Seconds of audio scored so far."""
        return (self._base + len(self._probs)) * self.WINDOW / SAMPLE_RATE

    def push(self, samples: np.ndarray) -> None:
        """Score ``samples`` ((n,) float32 at 16 kHz) in whole 32 ms windows; the rest
        waits for the next push. Copies kept here are zeroed once scored."""
        buf = np.concatenate([self._pending, samples]) if self._pending.size else np.array(samples, dtype=np.float32)
        whole = buf.size // self.WINDOW * self.WINDOW
        if whole:
            windows = self._torch.from_numpy(buf[:whole].reshape(-1, self.WINDOW))
            with self._torch.inference_mode():
                for w in windows:
                    self._probs.append(float(self._model(w.unsqueeze(0), SAMPLE_RATE)))
        self._pending[:] = 0
        self._pending = buf[whole:].copy()
        buf[:] = 0  # plaintext audio: zeroed once scored

    def forget(self, before: float) -> None:
        """Drop scores of audio before ``before`` seconds (already committed)."""
        cut = int(before * SAMPLE_RATE // self.WINDOW) - self._base
        if cut > 0:
            del self._probs[:cut]
            self._base += cut

    def regions(self) -> list[tuple[float, float]]:
        """Unpadded speech regions (start, end) in seconds among the kept scores; the last
        one may still be open (ending at ``processed``)."""
        p = self.params
        thr, neg = p.threshold, max(p.threshold - 0.15, 0.01)
        step = self.WINDOW / SAMPLE_RATE
        found: list[tuple[float, float]] = []
        start = silence_from = None
        for i, prob in enumerate(self._probs):
            t = (self._base + i) * step
            if prob >= thr:
                silence_from = None
                if start is None:
                    start = t
            elif prob < neg and start is not None:
                if silence_from is None:
                    silence_from = t
                if t + step - silence_from >= self._min_silence:
                    if silence_from - start >= p.min_speech_ms / 1000:
                        found.append((start, silence_from))
                    start = silence_from = None
        if start is not None:
            end = silence_from if silence_from is not None else self.processed
            if end - start >= p.min_speech_ms / 1000 or silence_from is None:
                found.append((start, end))
        return found
