"""The one options object a visit is processed with.

Every output echoes it (``ScribeOptions.to_dict``), so a transcript or note can always be
traced to the model, thresholds and template that produced it. Hyperparameters that are
tuned against a metric (VAD, diarization) carry the value we measured best as default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class VadParams:
    """Silero VAD settings (tuned on samples/ and ami-debug)."""

    # Measured on ami-debug: 0.35 with 200 ms padding halves missed speech against
    # silero's defaults (0.5, 30 ms) at no cost in false alarm.
    threshold: float = 0.35
    min_speech_ms: int = 250
    min_silence_ms: int = 300
    speech_pad_ms: int = 200


@dataclass(frozen=True)
class DiarizationParams:
    """Sliding-window speaker embedding + clustering.

    window/step: 1.5-1.6 s windows every 0.5 s separate speakers in fast turn-taking
    where whole-segment embeddings blur them.

    Speaker count, measured on ami-debug and samples/: silhouette alone over-counts (dev00,
    two speakers, scores highest at k=4), so k is the smallest whose silhouette is within
    ``k_tolerance`` of the best; this favours two, the common exam-room case. Silhouette
    cannot tell one speaker from two, but the similarity of the two k=2 centroids can:
    0.90-0.97 for one voice, 0.67-0.88 for two or more; at or above
    ``single_speaker_similarity`` the recording is taken to have one speaker.
    """

    window: float = 1.6
    step: float = 0.25
    min_speakers: int = 1
    max_speakers: int = 4
    k_tolerance: float = 0.08
    single_speaker_similarity: float = 0.93
    median_filter: int = 3  # in steps; removes one-window speaker flickers


@dataclass(frozen=True)
class ScribeOptions:
    model: str = "tiny.en"  # "tiny.en", "base", or a CTranslate2 Whisper folder
    language: str | None = None  # None: English for .en models, detected otherwise
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: CTranslate2 picks
    beam_size: int = 1
    vocabulary: str | None = None  # clinical terms given to Whisper as initial prompt
    speakers: int | None = None  # fixed speaker count; None: estimated
    template: str = "soap"
    # A long recording is decoded and processed block by block so memory stays flat.
    block_seconds: float = 600.0
    vad: VadParams = field(default_factory=VadParams)
    diarization: DiarizationParams = field(default_factory=DiarizationParams)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
