"""Live transcription: PCM frames in, committed transcript lines out, as a visit goes.

The same modules as batch (scribe.pipeline's speech detector, speech model, diarizer,
role labeller and drafter): streaming is batch applied to one utterance at a time.

- Frames are kept through the visit (privacy mode: sealed into its encrypted buffer);
  only the open utterance's window is held in plaintext.
- VAD runs over the undecided tail of the audio; an utterance is committed once it is
  followed by ``end_silence`` seconds of silence (or reaches ``max_utterance``), and is
  then recognised and embedded. A committed line never changes.
- Each committed line gets a provisional speaker from online clustering of its
  embedding against the speakers seen so far; ``finish`` re-clusters every window of
  the visit, as batch does, for the final transcript and note.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pyannote.core import Timeline

from scribe.audio import SAMPLE_RATE
from scribe.diarization import WindowEmbeddings
from scribe.pipeline import Pipeline, VisitResult, VisitSink
from scribe.types import Segment

logger = logging.getLogger("scribe.streaming")


@dataclass(frozen=True)
class StreamParams:
    end_silence: float = 0.6  # silence that ends an utterance
    max_utterance: float = 20.0  # committed even without a pause, to bound latency
    new_speaker_similarity: float = 0.75  # below this to every known voice: a new speaker
    max_speakers: int = 4


@dataclass(frozen=True)
class CommittedLine:
    """A transcript line that will not change, with when it was committed."""

    segment: Segment
    utterance_end: float  # seconds into the visit where the utterance ended
    committed_at: float  # time.monotonic() when the line was produced


@dataclass
class _Speakers:
    centroids: list[np.ndarray] = field(default_factory=list)

    def assign(self, vectors: np.ndarray, params: StreamParams) -> str:
        v = vectors.mean(axis=0)
        v /= np.linalg.norm(v) + 1e-9
        if self.centroids:
            sims = [float(c @ v / (np.linalg.norm(c) + 1e-9)) for c in self.centroids]
            best = int(np.argmax(sims))
            if sims[best] >= params.new_speaker_similarity or len(self.centroids) >= params.max_speakers:
                self.centroids[best] = self.centroids[best] + v
                return f"SPEAKER_{best:02d}"
        self.centroids.append(v)
        return f"SPEAKER_{len(self.centroids) - 1:02d}"


class StreamingSession:
    """One live visit. ``feed`` frames as they arrive; ``finish`` at stop."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        visit: VisitSink | None = None,
        params: StreamParams = StreamParams(),
        on_line: Callable[[CommittedLine], None] | None = None,
    ):
        self.pipeline = pipeline
        self.visit = visit
        self.params = params
        self.on_line = on_line
        self._tail = np.zeros(0, dtype=np.float32)  # undecided audio, from _tail_start
        self._tail_start = 0.0
        self._received = 0.0
        self._segments: list[Segment] = []
        self._windows = WindowEmbeddings.empty()
        self._speakers = _Speakers()
        self._language = pipeline.options.language
        self.lines: list[CommittedLine] = []

    def feed(self, pcm16: bytes) -> list[CommittedLine]:
        """Add 16 kHz mono PCM16 frames; return the lines this made final."""
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        if self.visit is not None:
            samples = self.visit.store_audio(samples, self._received)
        self._received += samples.size / SAMPLE_RATE
        tail = np.concatenate([self._tail, samples])
        if self.visit is not None:
            self.visit.release(self._tail)
            self.visit.release(samples)
        self._tail = tail
        return self._commit(final=False)

    @property
    def received(self) -> float:
        """Seconds of audio fed so far."""
        return self._received

    @property
    def language(self) -> str | None:
        return self._language

    def flush(self) -> list[CommittedLine]:
        """Commit the open utterance now (the recorder paused: no more audio is coming
        for a while)."""
        return self._commit(final=True)

    def partial(self, min_seconds: float = 1.0) -> Segment | None:
        """The words of the utterance still being spoken, recognised so far. Shown to the
        clinician and replaced, never kept: only committed lines reach the transcript."""
        speech = self.pipeline.detector(self._tail, self._tail_start)
        regions = list(speech)
        if not regions:
            return None
        tail_end = self._tail_start + self._tail.size / SAMPLE_RATE
        last = regions[-1]
        if tail_end - last.end >= self.params.end_silence or last.end - last.start < min_seconds:
            return None  # nothing open, or about to be committed anyway
        rec = self.pipeline.speech_model.transcribe(
            self._tail, Timeline([last]), self._tail_start, self._language
        )
        text = " ".join(s.text for s in rec.segments).strip()
        if not text:
            return None
        return Segment("partial", last.start, last.end, text)

    def finish(self, template=None) -> VisitResult:
        """Commit what is left, then finalise as batch does: speakers re-clustered over
        the whole visit, roles, and the draft note (``template``: the pipeline's unless
        given)."""
        self._commit(final=True)
        if self.visit is not None:
            self.visit.release(self._tail)
        return self.pipeline.finalize(
            self._segments, self._windows, self._received, self._language, "stream", template=template
        )

    def _commit(self, final: bool) -> list[CommittedLine]:
        p, params = self.pipeline, self.params
        speech = p.detector(self._tail, self._tail_start)
        tail_end = self._tail_start + self._tail.size / SAMPLE_RATE
        done: list = []
        for region in speech:
            closed = tail_end - region.end >= params.end_silence
            too_long = region.end - region.start >= params.max_utterance
            if final or closed or too_long:
                done.append(region)
            else:
                break
        new: list[CommittedLine] = []
        if not done:
            if not speech and self._tail.size > SAMPLE_RATE * 5:
                self._drop_until(tail_end - 1.0)  # long silence: keep only a second
            return new
        regions = Timeline(done)
        rec = p.speech_model.transcribe(self._tail, regions, self._tail_start, self._language)
        if rec.segments:
            self._language = rec.language
        windows = p.diarizer.embed(self._tail, regions, self._tail_start)
        self._windows = self._windows.concat(windows)
        for seg in rec.segments:
            if self.visit is not None:
                self.visit.store_text(seg.text)
            mine = [
                i for i, (s, e) in enumerate(windows.spans) if s < seg.end and e > seg.start
            ]
            speaker = self._speakers.assign(windows.vectors[mine], params) if mine else None
            segment = Segment(f"s{len(self._segments)}", seg.start, seg.end, seg.text, seg.words, speaker)
            self._segments.append(segment)
            line = CommittedLine(segment, utterance_end=done[-1].end, committed_at=time.monotonic())
            new.append(line)
            if self.on_line:
                self.on_line(line)
        self.lines.extend(new)
        self._drop_until(done[-1].end)
        return new

    def _drop_until(self, t: float) -> None:
        cut = int(round((t - self._tail_start) * SAMPLE_RATE))
        cut = min(max(cut, 0), self._tail.size)
        rest = self._tail[cut:].copy()
        if self.visit is not None:
            self.visit.release(self._tail)
        self._tail, self._tail_start = rest, self._tail_start + cut / SAMPLE_RATE
