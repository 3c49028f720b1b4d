"""One visit, end to end: audio -> VAD -> speech model + diarizer -> speakers -> roles ->
draft note. Batch (this module's ``Pipeline.process``) and streaming share these stages.

Audio is processed block by block (``ScribeOptions.block_seconds``): each block is
decoded, its speech found, recognised and embedded, then dropped; only words and small
speaker embeddings outlive it, so memory does not grow with the length of the visit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from pyannote.core import Annotation, Timeline

from scribe.speakers.alignment import attribute_speakers
from scribe.speech.whisper import SpeechModel, WhisperSpeechModel
from scribe.audio.decode import SAMPLE_RATE, iter_blocks, probe
from scribe.speakers.embedding import Diarizer, EmbeddingDiarizer, WindowEmbeddings
from scribe.notes.extractive import Drafter, ExtractiveDrafter
from scribe.options import ScribeOptions
from scribe.speakers.roles import apply_roles
from scribe.notes.templates import Template, load_template
from scribe.types import ModelInfo, Note, Segment, Transcript
from scribe.audio.vad import SpeechDetector

logger = logging.getLogger("scribe.pipeline")

# Speech ending closer than this to a block's end may continue into the next block.
_OPEN_SPEECH_MARGIN = 0.5

Progress = Callable[[float, float | None], None]  # (seconds done, seconds total or None)


class VisitSink(Protocol):
    """Where a visit's audio and text are kept while it runs (privacy.visit.Visit)."""

    def store_audio(self, block: np.ndarray, start: float) -> np.ndarray: ...

    def release(self, window: np.ndarray) -> None: ...

    def store_text(self, text: str) -> None: ...


@dataclass(frozen=True)
class VisitResult:
    uri: str
    transcript: Transcript
    annotation: Annotation
    note: Note
    options: ScribeOptions
    models: tuple[ModelInfo, ...]
    timings: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Loads the models once; ``process`` runs one recording through them."""

    def __init__(
        self,
        options: ScribeOptions = ScribeOptions(),
        *,
        speech_model: SpeechModel | None = None,
        diarizer: Diarizer | None = None,
        detector: SpeechDetector | None = None,
        drafter: Drafter | None = None,
    ):
        self.options = options
        # Load the template first: a typo in --template should fail before models load.
        self.template: Template = load_template(options.template)
        self.detector = detector or SpeechDetector(options.vad)
        self.speech_model = speech_model or WhisperSpeechModel(options)
        self.diarizer = diarizer or EmbeddingDiarizer(options.diarization)
        self.drafter = drafter or ExtractiveDrafter()

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        drafter = ModelInfo("drafter", self.drafter.name, self.drafter.version)
        return (
            self.speech_model.model_info,
            self.detector.model_info,
            self.diarizer.model_info,
            drafter,
        )

    def process(
        self,
        path: str | os.PathLike,
        progress: Progress | None = None,
        uri: str | None = None,
        visit: VisitSink | None = None,
    ) -> VisitResult:
        """Run one recording through every stage. ``uri`` names the visit in the outputs
        (default: the file's stem). ``visit`` keeps the audio and transcript the way its
        mode says (privacy.visit.Visit); every decoded block goes through it before any
        stage sees it."""
        info = probe(path)
        timings = {"vad": 0.0, "asr": 0.0, "embed": 0.0}
        segments: list[Segment] = []
        windows = WindowEmbeddings.empty()
        language = self.options.language  # None: the speech model detects it once
        offset = 0.0
        carry = np.zeros(0, dtype=np.float32)
        blocks = _kept(iter_blocks(info, self.options.block_seconds), visit)
        block = following = None
        try:
            block = next(blocks, None)
            while block is not None:
                following = next(blocks, None)
                if carry.size:
                    joined = np.concatenate([carry, block])
                    if visit is not None:  # privacy mode: no stray plaintext copies
                        visit.release(carry)
                        visit.release(block)
                    block = joined
                t0 = time.perf_counter()
                speech = self.detector(block, offset)
                # A block boundary must not cut an utterance (a word split in two is two
                # wrong words): speech running into the end of a block is carried over.
                cut = block.size
                if following is not None:
                    speech, cut = _cut_before_open_speech(speech, offset, block.size)
                t1 = time.perf_counter()
                recognition = self.speech_model.transcribe(block[:cut], speech, offset, language)
                if visit is not None:
                    # Registered as soon as recognised, so the log filter knows it
                    # before anything could log it.
                    for seg in recognition.segments:
                        visit.store_text(seg.text)
                t2 = time.perf_counter()
                windows = windows.concat(self.diarizer.embed(block[:cut], speech, offset))
                t3 = time.perf_counter()
                timings["vad"] += t1 - t0
                timings["asr"] += t2 - t1
                timings["embed"] += t3 - t2
                segments.extend(recognition.segments)
                if recognition.segments:
                    language = recognition.language
                carry = block[cut:].copy()
                if visit is not None:
                    visit.release(block)
                offset += cut / SAMPLE_RATE
                block, following = following, None
                if progress:
                    progress(offset, info.declared_duration)
        finally:
            blocks.close()
            if visit is not None:  # on failure too: what was decrypted is zeroed
                for held in (block, following, carry):
                    if held is not None:
                        visit.release(held)
        result = self.finalize(segments, windows, offset, language, uri or _uri(info.path), timings)
        logger.info(
            "processed %s: %.1f s audio, %d segments, %d speakers",
            result.uri,
            offset,
            len(result.transcript.segments),
            len(result.annotation.labels()),
        )
        return result

    def finalize(
        self,
        segments: list[Segment],
        windows: WindowEmbeddings,
        duration: float,
        language: str | None,
        uri: str,
        timings: dict[str, float] | None = None,
        template: Template | None = None,
    ) -> VisitResult:
        """The end of a visit, batch or streamed: speakers clustered over all its
        windows, words given to them, roles, and the draft note (from ``template``, or
        the pipeline's)."""
        t0 = time.perf_counter()
        annotation = self.diarizer.cluster(windows, self.options.speakers)
        annotation.uri = uri
        transcript = apply_roles(
            Transcript(
                segments=attribute_speakers(segments, annotation),
                duration=round(duration, 3),
                language=language or "en",
            )
        )
        t1 = time.perf_counter()
        note = self.drafter.draft(transcript, template or self.template)
        t2 = time.perf_counter()
        return VisitResult(
            uri=uri,
            transcript=transcript,
            annotation=annotation,
            note=note,
            options=self.options,
            models=self.models,
            timings={**(timings or {}), "cluster_roles": t1 - t0, "draft": t2 - t1},
        )


def _kept(blocks: Iterator[np.ndarray], visit: VisitSink | None) -> Iterator[np.ndarray]:
    """Hand each decoded block to the visit as soon as it exists; yield what it gives back."""
    start = 0.0
    for block in blocks:
        n = block.size
        yield visit.store_audio(block, start) if visit is not None else block
        start += n / SAMPLE_RATE


def _cut_before_open_speech(speech: Timeline, offset: float, size: int) -> tuple[Timeline, int]:
    """If the last speech region reaches the block's end, cut the block where that region
    starts and drop it from ``speech``: the next block re-detects it whole. A region
    longer than half a block is cut at the block's end anyway, to keep memory bounded."""
    end = offset + size / SAMPLE_RATE
    regions = list(speech)
    if not regions or regions[-1].end < end - _OPEN_SPEECH_MARGIN:
        return speech, size
    start = regions[-1].start
    if start - offset < size / SAMPLE_RATE / 2:
        return speech, size
    return Timeline(regions[:-1]), int(round((start - offset) * SAMPLE_RATE))


def _uri(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
