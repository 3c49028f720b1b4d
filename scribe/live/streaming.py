"""Live transcription: PCM frames in, committed transcript lines out, as a visit goes.

The same components as batch, injected through the pipeline's seams (its VAD's
``stream()``, speech model, a diarizer session, role labeller and drafter): streaming is
batch applied to one utterance at a time.

- Frames are kept through the visit (privacy mode: sealed into its encrypted buffer);
  only the open utterance's window is held in plaintext, in a context that zeroes it.
- Each frame is conditioned in place before VAD sees it: the DC offset removed by the
  batch pipeline's high-pass (``scribe.audio.condition.Conditioner``, its state carried
  from frame to frame), as batch does; neither changes the level (a gain raised the
  diarization error on AMI; ``scribe.audio.condition``).
- VAD scores each 32 ms window once, as it arrives; an utterance is committed once it
  is followed by ``end_silence`` seconds of silence (or reaches ``max_utterance``), and
  is then recognised and its speaker features extracted, or was already, speculatively,
  during the pause (``prepare``). A committed line never changes.
- Each committed line gets a provisional speaker from the diarizer session (``add`` with
  the lines' spans); ``finish`` takes the session's final turns over the whole visit, as
  batch does, for the final transcript and note.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from privacy import SAMPLE_RATE
from scribe.audio.condition import Conditioner
from scribe.notes.templates import Template
from scribe.options import split_terms, vocabulary_prompt
from scribe.pipeline import NullVisit, Pipeline, VisitResult, VisitSink
from scribe.speech import Recognition
from scribe.speech.translation import attach_translations
from scribe.types import Segment, Translation, main_language

logger = logging.getLogger("scribe.live.streaming")

# One thread for speaker features, shared by all sessions (the caller serialises them).
_EMBEDDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scribe-embed")


@dataclass(frozen=True)
class StreamParams:
    """When a live utterance is over (seconds). Provisional speakers are the diarizer's
    business (``DiarizationParams`` for the embedding diarizer)."""

    # Endpointing, in seconds of silence after speech. At ``pause`` the utterance may be
    # over: it is recognised speculatively (when the service is idle) so that at
    # ``end_silence`` it can be committed at once; speech before ``end_silence`` throws
    # the guess away. Shorter end_silence: faster lines, more of them (measured on the
    # samples, streamed vs batch WER: 3.5-6.3% at 0.35 s; 1.5% on cough_visit at 0.6 s,
    # which costs ~0.25 s more per line).
    pause: float = 0.1
    end_silence: float = 0.35
    max_utterance: float = 20.0  # committed even without a pause, to bound latency


@dataclass(frozen=True)
class CommittedLine:
    """A transcript line that will not change, with when it was committed."""

    segment: Segment
    utterance_end: float  # seconds into the visit where the utterance ended
    committed_at: float  # time.monotonic() when the line was produced


def _expecting(pipeline: Pipeline, terms: Sequence[str]):
    """The pipeline's speech model told to expect ``terms`` after its options' own. A
    backend without ``with_vocabulary`` recognises without them (logged, the count only:
    terms can name a patient's drugs)."""
    model = pipeline.speech_model
    if not terms:
        return model
    with_vocabulary = getattr(model, "with_vocabulary", None)
    if with_vocabulary is None:
        logger.warning("speech model %s takes no terms; %d ignored", pipeline.options.speech, len(terms))
        return model
    return with_vocabulary(vocabulary_prompt(split_terms(pipeline.options.vocabulary), terms))


class StreamingSession:
    """One live visit. ``feed`` frames as they arrive; ``finish`` at stop. ``prepare``
    and ``partial`` are optional idle-time work (speculative recognition of a paused
    utterance; the words of one still being spoken).

    Parameters
    ----------
    pipeline : Pipeline
        Its detector, speech model, diarizer, role labeller and drafter are used.
    visit : VisitSink, optional
        Keeps the audio and lines (``privacy.visit.Visit``); None: ``NullVisit``.
    params : StreamParams
        Endpointing.
    on_line : callable, optional
        Called with each line as it is committed.
    terms : sequence of str
        This visit's terms to expect (drug names; the recorder page's Terms), given to
        the speech model after the pipeline's own (``options.vocabulary``: the config's
        and the command line's), as batch gives those.
    voices : sequence, optional
        Enrolled clinicians' voiceprints for this visit (default: ``pipeline.voices``);
        a speaker with one is the clinician in the final transcript.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        visit: VisitSink | None = None,
        params: StreamParams = StreamParams(),
        on_line: Callable[[CommittedLine], None] | None = None,
        terms: Sequence[str] = (),
        voices: Sequence[Any] | None = None,
    ):
        self.pipeline = pipeline
        self.visit: VisitSink = NullVisit() if visit is None else visit
        self.params = params
        self.on_line = on_line
        self.vad = pipeline.detector.stream(min_silence_ms=int(params.pause * 1000))
        self._condition = Conditioner()  # DC and rumble, as batch: see the module notes
        self._speech = _expecting(pipeline, terms)
        self._pad = pipeline.detector.params.speech_pad_ms / 1000
        # Enrolled clinicians' voices: this visit's choice, else the pipeline's (the site's).
        self._diarization = pipeline.diarizer.session(
            pipeline.options.speakers, pipeline.voices if voices is None else tuple(voices)
        )
        self._tail = np.zeros(0, dtype=np.float32)  # undecided audio, from _tail_start
        self._tail_held = ExitStack()  # the tail's context: zeroed when replaced or closed
        self._tail_start = 0.0
        self._received = 0.0
        self._segments: list[Segment] = []
        self._heard: list[Span] = []  # unpadded speech of committed utterances (who spoke when)
        # None: each utterance's language is the speech model's to decide (a visit may
        # change language at a turn); speech in another language than the note's is
        # translated as it is committed, and the translations go to finalize.
        self._language = pipeline.options.language
        self._translate_to = pipeline.translate_to
        self._translations: list[Translation] = []
        self._heard_languages: set[str] = set()  # of committed lines: what the visit is held in
        # prepare()'s work: (utterances, recognition, speaker features)
        self._guess: tuple[tuple[tuple[float, float], ...], Recognition, Any] | None = None
        self.lines: list[CommittedLine] = []
        self.speculation = {"used": 0, "wasted": 0}

    @property
    def enrolled(self) -> dict[str, str]:
        """Provisional speaker -> enrolled voice id, as far as the session can tell yet
        (``DiarizationSession.enrolled``; {} for a backend without voices)."""
        return dict(getattr(self._diarization, "enrolled", None) or {})

    @property
    def received(self) -> float:
        """Seconds of audio fed so far."""
        return self._received

    @property
    def language(self) -> str | None:
        """The language given for the visit, else the one most of the committed lines
        were said in (None: no line yet)."""
        return self._language or main_language(self._segments)

    def feed(self, pcm16: bytes) -> list[CommittedLine]:
        """Add 16 kHz mono PCM16 frames; return the lines this made final."""
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        with self.visit.keep_audio(samples, self._received) as window:
            self._received += window.size / SAMPLE_RATE
            self._condition(window)  # in place: no other plaintext copy
            self.vad.push(window)
            self._hold_tail(np.concatenate([self._tail, window]))
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
        rec, features = self._recognise(utterances)
        self._guess = (key, rec, features)
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
        # Shown, then replaced: recognised in the language of the last committed line
        # rather than detected again (an encoder pass per region) every time it is shown.
        language = self._language or (self._segments[-1].language if self._segments else None)
        rec = self._speech.transcribe(self._tail, regions, self._tail_start, language)
        text = " ".join(s.text for s in rec.segments).strip()
        return Segment("partial", start, end, text) if text else None

    def finish(self, template: Template | None = None) -> VisitResult:
        """Commit what is left, then finalise as batch does: the diarizer's final turns
        over the whole visit within the speech heard, roles, and the draft note (``template``: the pipeline's
        unless given). The held audio is zeroed (``close``)."""
        self._commit(final=True)
        self.close()
        annotation = self._diarization.finish()
        return self.pipeline.finalize(
            self._segments, annotation, self._received, self._language, "stream", template=template,
            enrolled=getattr(self._diarization, "enrolled", None), heard=Timeline(self._heard).support(),
            translations=self._translations,
        )

    def close(self) -> None:
        """Zero the audio held in plaintext (the undecided tail). Idempotent; after it
        the session takes no more audio."""
        self._tail_held.close()
        self._tail = np.zeros(0, dtype=np.float32)

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

    def _hold_tail(self, tail: np.ndarray) -> None:
        """Make ``tail`` the undecided audio; the tail it replaces is zeroed."""
        with self._tail_held.pop_all():
            self._tail = self._tail_held.enter_context(self.visit.held(tail))

    def _padded(self, spans: Sequence[tuple[float, float]]) -> Timeline:
        pad = self._pad
        tail_end = self._tail_start + self._tail.size / SAMPLE_RATE
        return Timeline([Span(max(s - pad, self._tail_start), min(e + pad, tail_end)) for s, e in spans]).support()

    def _recognise(self, spans: Sequence[tuple[float, float]]) -> tuple[Recognition, Any]:
        """Words and speaker features of ``spans``. The two models run side by side: the
        speaker features (torch) overlap the recognition (CTranslate2), both releasing
        the GIL, which takes them off the commit's critical path."""
        regions = self._padded(spans)
        voices = _EMBEDDER.submit(self._diarization.extract, self._tail, regions, self._tail_start)
        try:
            rec = self._speech.transcribe(
                self._tail, regions, self._tail_start, self._language, translate_to=self._translate_to,
                visit_languages=self._heard_languages,
            )
        finally:
            features = voices.result()  # the tail must not be released while it is read
        return rec, features

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
        # The detector's own unpadded regions inside what is committed (``done`` joins
        # across short pauses, which are not speech): where the reported turns may be.
        self._heard.extend(
            Span(max(s, done[0][0]), min(e, done[-1][1])) for s, e in self.vad.regions() if e > done[0][0] and s < done[-1][1]
        )
        guess, self._guess = self._guess, None
        if guess is not None and guess[0] == tuple(done):
            rec, features = guess[1], guess[2]
            self.speculation["used"] += 1
        else:
            if guess is not None:
                self.speculation["wasted"] += 1
            rec, features = self._recognise(done)
        for seg in rec.segments:
            self.visit.store_text(seg.text)
        for tr in rec.translations:
            self.visit.store_text(tr.text)
        self._translations.extend(rec.translations)
        self._heard_languages.update(seg.language for seg in rec.segments if seg.language)
        speakers = self._diarization.add(features, [(seg.start, seg.end) for seg in rec.segments])
        # Each line shows its translation as soon as it is committed; finalize places the
        # translations again on the final segments.
        translated = attach_translations(rec.segments, rec.translations, self._translate_to or "")
        new: list[CommittedLine] = []
        for seg, speaker in zip(translated, speakers):
            segment = replace(seg, id=f"s{len(self._segments)}", speaker=speaker)
            self._segments.append(segment)
            line = CommittedLine(segment, utterance_end=done[-1][1], committed_at=time.monotonic())
            new.append(line)
            if self.on_line:
                self.on_line(line)
        self.lines.extend(new)
        self._drop_until(min(done[-1][1] + self._pad, self._tail_start + self._tail.size / SAMPLE_RATE))
        return new

    def _drop_until(self, t: float) -> None:
        cut = int(round((t - self._tail_start) * SAMPLE_RATE))
        cut = min(max(cut, 0), self._tail.size)
        self._hold_tail(self._tail[cut:].copy())
        self._tail_start += cut / SAMPLE_RATE
        self.vad.forget(self._tail_start)
