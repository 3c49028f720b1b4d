"""One visit, end to end: audio -> VAD -> speech model + diarizer -> speakers -> roles ->
draft note. Batch (this module's ``Pipeline.process``) and streaming
(``scribe.live.streaming``) share these stages and ``Pipeline.finalize``.

Every stage is a seam with backends chosen by name (``ScribeOptions.speech``,
``vad_backend``, ``diarizer``, ``role_labeller``, ``drafter``) from its registry, or
injected. Audio is processed block by block (``ScribeOptions.block_seconds``): each
block is decoded, its speech found, recognised and its speaker features extracted, then
dropped; only words and the diarizer's small features outlive it, so memory does not
grow with the length of the visit.

Audio reaches the stages only through a ``VisitSink`` (``privacy.visit.Visit``, or the
do-nothing ``NullVisit``): each block is handed to it as soon as it is decoded, and
every plaintext window the stages work on is held in a context that zeroes it on exit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, closing, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

from privacy import SAMPLE_RATE
from scribe.audio import VAD_BACKENDS, SpeechRegions, VoiceActivityDetector
from scribe.audio.condition import Conditioner
from scribe.audio.decode import AudioInfo, iter_blocks, probe
from scribe.audio.source import FileAudioSource
from scribe.notes import DRAFTERS, AudioSource, Drafter, DraftProgress, draft_note
from scribe.notes.base import check_note_language
from scribe.notes.templates import Template, load_template
from scribe.options import ScribeOptions
from scribe.speakers import (
    DIARIZERS,
    ROLE_LABELLERS,
    Diarizer,
    RoleLabeller,
    attribute_speakers,
    mark_unrecognised_overlap,
    speech_turns,
)
from scribe.speech import SPEECH_MODELS, SpeechModel
from scribe.speech.translation import attach_translations
from scribe.types import ModelInfo, Note, Role, Segment, Transcript, Translation, main_language

logger = logging.getLogger("scribe.pipeline")

# Speech ending closer than this to a block's end may continue into the next block.
_OPEN_SPEECH_MARGIN = 0.5

Progress = Callable[[float, float | None], None]  # (seconds done, seconds total or None)


class VisitSink(Protocol):
    """Where a visit's audio and text are kept while it runs (``privacy.visit.Visit``;
    ``NullVisit`` when nothing is kept). Audio is (n,) float32 at 16 kHz."""

    def keep_audio(self, block: np.ndarray, start: float) -> AbstractContextManager[np.ndarray]:
        """Keep ``block`` (``start`` seconds into the visit; it may be zeroed) and yield
        the window to work on, which is zeroed on exit if the visit says so."""
        ...

    def held(self, array: np.ndarray) -> AbstractContextManager[np.ndarray]:
        """Yield ``array``, a plaintext copy derived from kept audio; zeroed on exit if
        the visit says so."""
        ...

    def store_text(self, text: str) -> None:
        """Keep a recognised line (and tell the log filter about it)."""
        ...

    def mark_content(self, text: str) -> None:
        """Text shown but not kept (a partial line): the log filter must know it."""
        ...

    # Optional: ``audio_source() -> AudioSource | None``, the kept audio for a drafter
    # that listens (``privacy.visit.Visit`` in privacy mode); see ``Pipeline.process``.


class NullVisit:
    """A visit that keeps nothing and zeroes nothing: the pipeline on its own."""

    @contextmanager
    def keep_audio(self, block: np.ndarray, start: float) -> Iterator[np.ndarray]:
        yield block

    @contextmanager
    def held(self, array: np.ndarray) -> Iterator[np.ndarray]:
        yield array

    def store_text(self, text: str) -> None:
        pass

    def mark_content(self, text: str) -> None:
        pass


@dataclass(frozen=True)
class VisitResult:
    """Everything one visit produced.

    Attributes
    ----------
    uri : str
        The visit's name in outputs (a file's stem, or ``"stream"``).
    transcript : Transcript
        Segments with speakers and roles; times in seconds.
    annotation : pyannote.core.Annotation
        Who spoke when (``uri`` set): the diarizer's final speaker turns within the
        unpadded speech the detector found (``speakers.turns.speech_turns``); written
        as the visit's RTTM.
    note : Note
        The draft note; every sentence cites transcript segment ids.
    options : ScribeOptions
        What the visit was processed with.
    models : tuple[ModelInfo, ...]
        Speech model, VAD, diarizer, role labeller and drafter.
    timings : dict[str, float]
        Seconds per stage (``condition``, ``vad``, ``asr``, ``embed``, ``cluster_roles``,
        ``draft``).
    """

    uri: str
    transcript: Transcript
    annotation: Annotation
    note: Note
    options: ScribeOptions
    models: tuple[ModelInfo, ...]
    timings: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """The stages of a visit, loaded once; ``process`` runs one recording through them.

    Parameters
    ----------
    options : ScribeOptions
        Backend names and settings; the note template.
    speech_model, detector, diarizer, role_labeller, drafter : optional
        Components to use instead of building them from ``options`` (tests share one
        loaded model between pipelines this way).
    voices : sequence, optional
        Enrolled clinicians' voiceprints (``privacy.voiceprints.Voiceprint``) for the
        diarizer: a speaker with one of these voices is the clinician.

    Raises
    ------
    UnknownBackendError
        A backend name in ``options`` is not registered (before any model loads).
    TemplateError
        ``options.template`` cannot be loaded (before any model loads).
    ModelError
        A model cannot be found or loaded.
    """

    def __init__(
        self,
        options: ScribeOptions = ScribeOptions(),
        *,
        speech_model: SpeechModel | None = None,
        detector: VoiceActivityDetector | None = None,
        diarizer: Diarizer | None = None,
        role_labeller: RoleLabeller | None = None,
        drafter: Drafter | None = None,
        voices: Sequence[Any] = (),
    ):
        self.options = options
        # Enrolled clinicians' voices every visit's diarizer session may find
        # (``scribe.speakers.enrolled``); none: visits as without enrollment.
        self.voices: tuple[Any, ...] = tuple(voices)
        # Names and template first: a typo in --diarizer or --template should fail
        # before models load.
        for registry, name in (
            (VAD_BACKENDS, options.vad_backend),
            (SPEECH_MODELS, options.speech),
            (DIARIZERS, options.diarizer),
            (ROLE_LABELLERS, options.role_labeller),
            (DRAFTERS, options.drafter),
        ):
            registry.check(name)
        self.template: Template = load_template(options.template)
        if detector is None:
            detector = VAD_BACKENDS.create(options.vad_backend, options)
        if speech_model is None:
            speech_model = SPEECH_MODELS.create(options.speech, options)
        if diarizer is None:
            diarizer = DIARIZERS.create(options.diarizer, options)
        if role_labeller is None:
            role_labeller = ROLE_LABELLERS.create(options.role_labeller, options)
        if drafter is None:
            drafter = DRAFTERS.create(options.drafter, options)
        self.detector: VoiceActivityDetector = detector
        self.speech_model: SpeechModel = speech_model
        self.diarizer: Diarizer = diarizer
        self.role_labeller: RoleLabeller = role_labeller
        self.drafter: Drafter = drafter
        check_note_language(drafter, options.note_language)

    @property
    def translate_to(self) -> str | None:
        """The language speech in another language is translated into: the note
        language, when the speech model translates into it (``SpeechModel.translates_to``);
        else None, and speech in another language stays out of the note."""
        translates = getattr(self.speech_model, "translates_to", frozenset())
        return self.options.note_language if self.options.note_language in translates else None

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        """What processed the visit, for every output: speech, VAD, diarizer, role
        labeller, drafter."""
        drafter = ModelInfo("drafter", self.drafter.name, self.drafter.version)
        return (
            self.speech_model.model_info,
            self.detector.model_info,
            self.diarizer.model_info,
            self.role_labeller.model_info,
            drafter,
        )

    def process(
        self,
        path: str | os.PathLike,
        progress: Progress | None = None,
        uri: str | None = None,
        visit: VisitSink | None = None,
    ) -> VisitResult:
        """Run one recording through every stage.

        Parameters
        ----------
        path : str or os.PathLike
            Any recording PyAV decodes.
        progress : callable, optional
            Called after each block with (seconds done, seconds declared or None).
        uri : str, optional
            The visit's name in outputs (default: the file's stem).
        visit : VisitSink, optional
            Keeps the audio and transcript the way its mode says
            (``privacy.visit.Visit``); every decoded block goes through it before any
            stage sees it. None: ``NullVisit``.

        Raises
        ------
        InputError
            The file cannot be read or decoded, or is truncated.
        """
        visit = NullVisit() if visit is None else visit
        info = probe(path)
        # DC removed from every block in place (``scribe.audio.condition``); no gain: the
        # recording's level is what VAD, recognition and the embeddings hear (a level
        # stage measured worse; see that module).
        high_pass = Conditioner()
        timings = {"condition": 0.0, "vad": 0.0, "asr": 0.0, "embed": 0.0}
        segments: list[Segment] = []
        translations: list[Translation] = []
        heard: list[Span] = []  # unpadded speech: where the reported turns may be
        diarization = self.diarizer.session(self.options.speakers, self.voices)
        # None: the speech model decides each region's language (English for an
        # English-only model); a visit may change language at any turn.
        language = self.options.language
        translate_to = self.translate_to
        offset = 0.0
        carry = np.zeros(0, dtype=np.float32)
        blocks = _kept_blocks(iter_blocks(info, self.options.block_seconds), visit)
        # ``carried`` holds the context of the audio carried into the next block, so it
        # is zeroed after that block, or when processing stops (on failure too).
        with closing(blocks), ExitStack() as carried:
            for window, last in blocks:
                t0 = time.perf_counter()
                high_pass(window)  # in place: no other plaintext copy
                timings["condition"] += time.perf_counter() - t0
                joined = np.concatenate([carry, window]) if carry.size else window
                with carried.pop_all(), visit.held(joined) as block:
                    t0 = time.perf_counter()
                    found = _detect(self.detector, block, offset)
                    speech = found.padded
                    # A block boundary must not cut an utterance (a word split in two is
                    # two wrong words): speech running into the end of a block is carried.
                    cut = block.size
                    if not last:
                        speech, cut = _cut_before_open_speech(speech, offset, block.size)
                    heard.extend(_before(found.unpadded, offset + cut / SAMPLE_RATE))
                    t1 = time.perf_counter()
                    recognition = self.speech_model.transcribe(
                        block[:cut], speech, offset, language, translate_to=translate_to,
                        visit_languages={s.language for s in segments if s.language},
                    )
                    # Registered as soon as recognised, so the log filter knows it
                    # before anything could log it; translations are visit text too.
                    for seg in recognition.segments:
                        visit.store_text(seg.text)
                    for tr in recognition.translations:
                        visit.store_text(tr.text)
                    t2 = time.perf_counter()
                    diarization.add(diarization.extract(block[:cut], speech, offset))
                    t3 = time.perf_counter()
                    carry = carried.enter_context(visit.held(block[cut:].copy()))
                timings["vad"] += t1 - t0
                timings["asr"] += t2 - t1
                timings["embed"] += t3 - t2
                segments.extend(recognition.segments)
                translations.extend(recognition.translations)
                offset += cut / SAMPLE_RATE
                if progress:
                    progress(offset, info.declared_duration)
        t0 = time.perf_counter()
        annotation = diarization.finish()
        timings["cluster_roles"] = time.perf_counter() - t0
        audio = _listening_source(visit, info, offset) if getattr(self.drafter, "listens", False) else None
        result = self.finalize(
            segments, annotation, offset, language, uri or _uri(info.path), timings, audio=audio,
            enrolled=getattr(diarization, "enrolled", None), heard=Timeline(heard), translations=translations,
        )
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
        annotation: Annotation,
        duration: float,
        language: str | None,
        uri: str,
        timings: dict[str, float] | None = None,
        template: Template | None = None,
        *,
        audio: AudioSource | None = None,
        draft_progress: DraftProgress | None = None,
        enrolled: Mapping[str, str] | None = None,
        heard: Timeline | None = None,
        translations: Sequence[Translation] = (),
    ) -> VisitResult:
        """The end of a visit, batch or streamed: words given to the final speaker turns,
        roles, and the draft note.

        Parameters
        ----------
        segments : list[Segment]
            Everything recognised, in time order (seconds from the start of the visit).
        annotation : pyannote.core.Annotation
            The final speaker turns (``DiarizationSession.finish``); its ``uri`` is set.
        duration : float
            Seconds of audio in the visit.
        language : str, optional
            The language given for the whole visit; None: the one most of the
            segments' time was said in (``Segment.language``), else ``"en"``.
        uri : str
            The visit's name in outputs.
        timings : dict, optional
            Stage timings so far; ``cluster_roles`` (if given) is added to.
        template : Template, optional
            The note template (default: the pipeline's).
        audio : AudioSource, optional
            The visit's audio, for a drafter that listens (``audio-llm``): the visit's
            ``audio_source()`` (privacy mode), else the recording file. Other drafters
            never see it.
        draft_progress : callable, optional
            ``(windows or chunks done, total)`` from a model drafter.
        enrolled : Mapping[str, str], optional
            Speaker label -> enrolled voice id (``DiarizationSession.enrolled``): those
            speakers are the clinician before role labelling (voice first, words second),
            and each voice id is echoed in ``models`` (kind ``enrolled-voice``).
        heard : pyannote.core.Timeline, optional
            Where the detector heard speech, unpadded (seconds). Given, who spoke when is
            the diarizer's turns within it (``speakers.speech_turns``, widened by
            ``VadParams.turn_onset_pad_ms``/``turn_offset_pad_ms``): the padding the
            recogniser needs is not speech (false alarm at every turn edge). Not applied
            for a diarizer that finds speech itself (``finds_speech``, pyannote's
            segmentation), whose turns stand as they are.
        translations : sequence of Translation
            The speech model's translations into the note language
            (``Recognition.translations``), placed on the final segments
            (``speech.translation.attach_translations``). Roles are labelled and the note
            drafted from the transcript in the note language (``Transcript.for_note``).
        """
        t0 = time.perf_counter()
        if heard is not None and not getattr(self.diarizer, "finds_speech", False):
            vad = self.options.vad
            annotation = speech_turns(annotation, heard, vad.turn_onset_pad_ms / 1000, vad.turn_offset_pad_ms / 1000)
        elif duration > 0:
            # A model's frames can reach past the audio (pyannote's last sliding window
            # is padded): turns end where the visit does.
            annotation = annotation.crop(Span(0.0, duration), mode="intersection")
        annotation.uri = uri
        enrolled = {s: v for s, v in (enrolled or {}).items() if s in annotation.labels()}
        note_language = self.options.note_language
        # Words to turns, then a marker where two speakers' speech has no words; then
        # each translation onto the final segment it covers.
        final = attach_translations(
            mark_unrecognised_overlap(attribute_speakers(segments, annotation), annotation), translations, note_language
        )
        transcript = label_in_note_language(
            self.role_labeller,
            Transcript(
                segments=final,
                duration=round(duration, 3),
                language=language or main_language(final) or "en",
                speakers={s: Role.CLINICIAN for s in enrolled},
                note_language=note_language,
            ),
        )
        untranslated = sum(
            1 for s in transcript.segments if s.language and s.language != note_language and s.translation is None
        )
        if untranslated:
            logger.warning("%d segment(s) in another language than the note's have no translation", untranslated)
        t1 = time.perf_counter()
        note = draft_note(self.drafter, transcript, template or self.template, audio=audio, progress=draft_progress)
        t2 = time.perf_counter()
        timings = dict(timings or {})
        timings["cluster_roles"] = timings.get("cluster_roles", 0.0) + t1 - t0
        timings["draft"] = t2 - t1
        return VisitResult(
            uri=uri,
            transcript=transcript,
            annotation=annotation,
            note=note,
            options=self.options,
            models=self.models + tuple(ModelInfo("enrolled-voice", v, "matched") for v in sorted(set(enrolled.values()))),
            timings=timings,
        )


def label_in_note_language(labeller: RoleLabeller, transcript: Transcript) -> Transcript:
    """``transcript`` with roles from ``labeller``, which reads the content cues of the
    note language (``Transcript.for_note``: translations in place of speech in another
    language); the roles are then given to every segment of each speaker, translated or
    not."""
    view = transcript.for_note()
    if view is transcript:
        return labeller.label(transcript)
    labelled = labeller.label(view)
    speakers = {**transcript.speakers, **labelled.speakers}
    return replace(
        transcript,
        speakers=speakers,
        segments=tuple(
            replace(s, role=speakers.get(s.speaker, Role.UNKNOWN)) if s.speaker is not None else s
            for s in transcript.segments
        ),
    )


def _listening_source(visit: VisitSink, info: AudioInfo, duration: float) -> AudioSource:
    """The audio a listening drafter drafts from: the visit's own (privacy mode: windows
    decrypted from its buffer) when it keeps it, else the recording, decoded window by
    window (``duration``: the seconds the pipeline decoded)."""
    source = getattr(visit, "audio_source", None)
    kept = source() if callable(source) else None
    return kept if kept is not None else FileAudioSource(info, duration)


def _kept_blocks(blocks: Iterator[np.ndarray], visit: VisitSink) -> Iterator[tuple[np.ndarray, bool]]:
    """(window, last) for each decoded block. Each block goes to the visit as soon as it
    is decoded, one ahead of the window yielded (so the caller knows which is last); a
    window is zeroed when the caller asks for the next, or when the iteration stops."""
    start = 0.0
    window: np.ndarray | None = None
    with ExitStack() as ahead:
        for block in blocks:
            with ahead.pop_all():  # the previous window's context: closed after its turn
                n = block.size  # the visit may zero the block, not resize it
                following = ahead.enter_context(visit.keep_audio(block, start))
                start += n / SAMPLE_RATE
                if window is not None:
                    yield window, False
            window = following
        if window is not None:
            yield window, True


def _detect(detector: VoiceActivityDetector, block: np.ndarray, offset: float) -> SpeechRegions:
    """Padded and unpadded speech of ``block``; a detector without ``detect`` gives its
    padded regions for both."""
    detect = getattr(detector, "detect", None)
    if callable(detect):
        return detect(block, offset)
    speech = detector(block, offset)
    return SpeechRegions(speech, speech)


def _before(speech: Timeline, end: float) -> list[Span]:
    """The parts of ``speech`` before ``end`` seconds (the rest is carried to the next
    block, which detects it again)."""
    return [Span(r.start, min(r.end, end)) for r in speech if r.start < end]


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
