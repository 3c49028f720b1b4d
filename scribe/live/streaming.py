"""Live transcription: PCM frames in, committed transcript lines out, as a visit goes.

The same modules as batch (scribe.pipeline's speech detector, speech model, diarizer,
role labeller and drafter): streaming is batch applied to one utterance at a time.

- Frames are kept through the visit (privacy mode: sealed into its encrypted buffer);
  only the open utterance's window is held in plaintext.
- VAD scores each 32 ms window once, as it arrives; an utterance is committed once it
  is followed by ``end_silence`` seconds of silence (or reaches ``max_utterance``), and
  is then recognised and embedded, or was already, speculatively, during the pause
  (``prepare``). A committed line never changes.
- Each committed line gets a provisional speaker from online clustering of its
  embedding against the speakers seen so far; ``finish`` re-clusters every window of
  the visit, as batch does, for the final transcript and note.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from scribe.audio.decode import SAMPLE_RATE
from scribe.speakers.embedding import WindowEmbeddings
from scribe.pipeline import Pipeline, VisitResult, VisitSink
from scribe.types import Segment
from scribe.audio.vad import StreamingSpeechDetector

logger = logging.getLogger("scribe.live.streaming")

# One thread for voice embeddings, shared by all sessions (the caller serialises them).
_EMBEDDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scribe-embed")


@dataclass(frozen=True)
class StreamParams:
    # Endpointing, in seconds of silence after speech. At ``pause`` the utterance may be
    # over: it is recognised speculatively (when the service is idle) so that at
    # ``end_silence`` it can be committed at once; speech before ``end_silence`` throws
    # the guess away. Shorter end_silence: faster lines, more of them (measured on the
    # samples, streamed vs batch WER: 3.5-6.3% at 0.35 s; 1.5% on cough_visit at 0.6 s,
    # which costs ~0.25 s more per line).
    pause: float = 0.1
    end_silence: float = 0.35
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
    """One live visit. ``feed`` frames as they arrive; ``finish`` at stop. ``prepare``
    and ``partial`` are optional idle-time work (speculative recognition of a paused
    utterance; the words of one still being spoken)."""

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
        self.vad = StreamingSpeechDetector(pipeline.options.vad, min_silence_ms=int(params.pause * 1000))
        self._tail = np.zeros(0, dtype=np.float32)  # undecided audio, from _tail_start
        self._tail_start = 0.0
        self._received = 0.0
        self._segments: list[Segment] = []
        self._windows = WindowEmbeddings.empty()
        self._speakers = _Speakers()
        self._language = pipeline.options.language
        self._guess: tuple[tuple, object, WindowEmbeddings] | None = None  # prepare()'s work
        self.lines: list[CommittedLine] = []
        self.speculation = {"used": 0, "wasted": 0}

    @property
    def received(self) -> float:
        """Seconds of audio fed so far."""
        return self._received

    @property
    def language(self) -> str | None:
        return self._language

    def feed(self, pcm16: bytes) -> list[CommittedLine]:
        """Add 16 kHz mono PCM16 frames; return the lines this made final."""
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        if self.visit is not None:
            samples = self.visit.store_audio(samples, self._received)
        self._received += samples.size / SAMPLE_RATE
        self.vad.push(samples)
        tail = np.concatenate([self._tail, samples])
        if self.visit is not None:
            self.visit.release(self._tail)
            self.visit.release(samples)
        self._tail = tail
        return self._commit(final=False)

    def flush(self) -> list[CommittedLine]:
        """Commit the open utterance now (the recorder paused: no more audio is coming
        for a while)."""
        return self._commit(final=True)

    def prepare(self) -> bool:
        """If the last utterance has paused, recognise and embed it now, so that its
        commit costs nothing if the pause turns out to be its end. Returns whether
        there was something to do."""
        utterances = self._utterances()
        if not utterances or self.vad.processed - utterances[-1][1] < self.params.pause:
            return False
        key = tuple(utterances)
        if self._guess is not None and self._guess[0] == key:
            return False
        rec, windows = self._recognise(utterances)
        self._guess = (key, rec, windows)
        return True

    def partial(self, min_seconds: float = 1.0) -> Segment | None:
        """The words of the utterance still being spoken, recognised so far. Shown to the
        clinician and replaced, never kept: only committed lines reach the transcript."""
        utterances = self._utterances()
        if not utterances:
            return None
        start, end = utterances[-1]
        if self.vad.processed - end >= self.params.pause or end - start < min_seconds:
            return None  # paused (prepare's business), or too short to say anything yet
        regions = self._padded([(start, end)])
        rec = self.pipeline.speech_model.transcribe(self._tail, regions, self._tail_start, self._language)
        text = " ".join(s.text for s in rec.segments).strip()
        return Segment("partial", start, end, text) if text else None

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

    # -- internals ----------------------------------------------------------------------

    def _utterances(self) -> list[tuple[float, float]]:
        """Unpadded speech in the tail, joined across pauses shorter than end_silence."""
        joined: list[list[float]] = []
        for start, end in self.vad.regions():
            if end <= self._tail_start:
                continue
            start = max(start, self._tail_start)
            if joined and start - joined[-1][1] < self.params.end_silence:
                joined[-1][1] = end
            else:
                joined.append([start, end])
        return [(s, e) for s, e in joined]

    def _padded(self, spans) -> Timeline:
        pad = self.pipeline.options.vad.speech_pad_ms / 1000
        tail_end = self._tail_start + self._tail.size / SAMPLE_RATE
        return Timeline([Span(max(s - pad, self._tail_start), min(e + pad, tail_end)) for s, e in spans]).support()

    def _recognise(self, spans):
        """Words and voice embeddings of ``spans``. The two models run side by side: the
        embedding (torch) overlaps the recognition (CTranslate2), both releasing the
        GIL, which takes it off the commit's critical path."""
        regions = self._padded(spans)
        voices = _EMBEDDER.submit(self.pipeline.diarizer.embed, self._tail, regions, self._tail_start)
        try:
            rec = self.pipeline.speech_model.transcribe(self._tail, regions, self._tail_start, self._language)
        finally:
            windows = voices.result()  # the tail must not be released while it is read
        return rec, windows

    def _commit(self, final: bool) -> list[CommittedLine]:
        params = self.params
        utterances = self._utterances()
        heard = self.vad.processed
        done: list[tuple[float, float]] = []
        for start, end in utterances:
            if final or heard - end >= params.end_silence or end - start >= params.max_utterance:
                done.append((start, end))
            else:
                break
        if not done:
            if not utterances and self._tail.size > SAMPLE_RATE * 5:
                self._drop_until(self._tail_start + self._tail.size / SAMPLE_RATE - 1.0)  # long silence
            return []
        guess, self._guess = self._guess, None
        if guess is not None and guess[0] == tuple(done):
            rec, windows = guess[1], guess[2]
            self.speculation["used"] += 1
        else:
            if guess is not None:
                self.speculation["wasted"] += 1
            rec, windows = self._recognise(done)
        if rec.segments:
            self._language = rec.language
        self._windows = self._windows.concat(windows)
        new: list[CommittedLine] = []
        for seg in rec.segments:
            if self.visit is not None:
                self.visit.store_text(seg.text)
            mine = [i for i, (s, e) in enumerate(windows.spans) if s < seg.end and e > seg.start]
            speaker = self._speakers.assign(windows.vectors[mine], params) if mine else None
            segment = Segment(f"s{len(self._segments)}", seg.start, seg.end, seg.text, seg.words, speaker)
            self._segments.append(segment)
            line = CommittedLine(segment, utterance_end=done[-1][1], committed_at=time.monotonic())
            new.append(line)
            if self.on_line:
                self.on_line(line)
        self.lines.extend(new)
        pad = self.pipeline.options.vad.speech_pad_ms / 1000
        self._drop_until(min(done[-1][1] + pad, self._tail_start + self._tail.size / SAMPLE_RATE))
        return new

    def _drop_until(self, t: float) -> None:
        cut = int(round((t - self._tail_start) * SAMPLE_RATE))
        cut = min(max(cut, 0), self._tail.size)
        rest = self._tail[cut:].copy()
        if self.visit is not None:
            self.visit.release(self._tail)
        self._tail, self._tail_start = rest, self._tail_start + cut / SAMPLE_RATE
        self.vad.forget(self._tail_start)
