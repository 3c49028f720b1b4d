"""The Whisper speech backend: faster-whisper (CTranslate2) over our own VAD regions.

Implements ``scribe.speech.SpeechModel``: audio (one block) + its speech regions ->
timed words and segments, each in its language, and translations into English on
request; registered as ``"whisper"``.

Languages: with ``--language`` (or an English-only model) the whole visit is recognised
in one language. Otherwise a multilingual model decides each speech region's language:
regions are cut at pauses (``chunks.split_at_pauses``), Whisper's language probabilities
are read per region (``WhisperModel.detect_language``, or ``language_probabilities`` on
the region's own frames when the site's languages are given), and each region is
decided among the visit's languages (``LanguageIdParams``). Consecutive regions of one
language are recognised together, and Whisper's translate task runs on the same packed
audio for every chunk not in the target language.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np
from pyannote.core import Segment as Span
from pyannote.core import Timeline

from privacy import SAMPLE_RATE
from scribe.errors import ModelError
from scribe.models import whisper_model
from scribe.options import ScribeOptions
from scribe.scoring import normalize_text
from scribe.speech.base import Recognition
from scribe.speech.chunks import Chunk, plan_chunks, split_at_pauses
from scribe.speech.repeats import FRAME_SECONDS, repeated_without_audio
from scribe.types import Segment, Translation, Word, main_language

logger = logging.getLogger("scribe.speech.whisper")

# Silence put between concatenated speech regions: without it Whisper runs the last word
# of one region into the first of the next.
_GAP_SECONDS = 0.2
# Speech is recognised in chunks that fit one 30 s Whisper window. Long-form decoding of
# all the speech at once seeks across window edges and cuts words there: measured on
# samples/aci_d2n_visit, WER 11.1% long-form against 7.7% in chunks of <= 28 s. A single
# region longer than this is cut too, with overlap (scribe.speech.chunks).
_CHUNK_SECONDS = 28.0
# Whisper detects a language from one 30 s window; a longer region is judged by its start.
_DETECT_SECONDS = 30.0
_DETECT_FRAMES = 3000  # 30 s of 10 ms feature frames
_MIN_DETECT_FRAMES = 100  # 1 s
# A translated segment is not trusted past Whisper's own bars for a failed decode
# (openai/whisper's compression_ratio_threshold 2.4 and logprob_threshold -1.0, which
# faster-whisper keeps as defaults and where it would retry at a higher temperature):
# Whisper base translating the synthetic Spanish voices looped ("4, 5, 5, 5, ...") and
# invented ("I'll see you in the next video") past them.
_LOOP_COMPRESSION = 2.4
_MIN_LOGPROB = -1.0


@dataclass(frozen=True)
class _Piece:
    concat_start: float
    orig_start: float
    duration: float


class WhisperSpeechModel:
    """Whisper via faster-whisper on our own VAD regions.

    VAD runs once (scribe.audio) and both this model and the diarizer use its regions:
    the speech is packed into one array so Whisper's 30 s windows are full of speech and
    it never sees long silence, where Whisper base was measured inventing repeated text.
    Segments come back with word timings; Whisper segments without a word are dropped.

    Parameters
    ----------
    options : ScribeOptions
        Reads ``model``, ``device``, ``compute_type``, ``cpu_threads``, ``language``,
        ``beam_size`` and ``vocabulary``.

    Raises
    ------
    ModelError
        The model cannot be found or loaded, or ``options.language`` is not one it
        knows (or not English for an English-only model).
    """

    def __init__(self, options: ScribeOptions):
        from faster_whisper import WhisperModel

        path, self.model_info = whisper_model(options.model)
        self.options = options
        try:
            self._model = WhisperModel(
                str(path),
                device=options.device,
                compute_type=options.compute_type,
                cpu_threads=options.cpu_threads,
            )
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"{path}: cannot load Whisper model ({str(e).splitlines()[0]})") from None
        self.multilingual = self._model.model.is_multilingual
        # Whisper's translate task writes English only, and only a multilingual model has it.
        self.translates_to = frozenset({"en"}) if self.multilingual else frozenset()
        known = set(self._model.supported_languages)
        for flag, codes in (("--language", (options.language,) if options.language else ()),
                            ("--languages", options.languages)):
            for code in codes:
                if code in known:
                    continue
                if self.multilingual:
                    raise ModelError(f"{flag} {code}: not a language code Whisper knows (en, es, fr, ...)")
                raise ModelError(f"{flag} {code}: {self.model_info.name} is English-only; use --model base")
        logger.info("loaded speech model %s (%s)", self.model_info.name, options.compute_type)

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "WhisperSpeechModel":
        return cls(options)

    def with_vocabulary(self, prompt: str | None) -> "WhisperSpeechModel":
        """This model, sharing its loaded weights, with ``prompt`` as Whisper's initial
        prompt instead of ``options.vocabulary``: a live visit's own terms
        (``scribe.options.vocabulary_prompt`` writes it)."""
        if prompt == self.options.vocabulary:
            return self
        view = copy.copy(self)
        view.options = replace(self.options, vocabulary=prompt)
        return view

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
        """See ``scribe.speech.SpeechModel.transcribe``. ``speech`` None: the whole of
        ``audio`` is one region (longer than one 28 s chunk, it is cut with overlap at
        its quietest points, as any long region is: ``scribe.speech.chunks``).
        Language: ``language``, else the options', else English for an English-only
        model, else each speech region's own (``_region_languages``)."""
        if translate_to is not None and translate_to not in self.translates_to:
            can = ", ".join(sorted(self.translates_to)) or "no language"
            raise ModelError(f"note language {translate_to}: {self.model_info.name} translates into {can}")
        if speech is None:
            speech = Timeline([Span(offset, offset + audio.size / SAMPLE_RATE)]) if audio.size else Timeline()
        fixed = language or self.options.language or (None if self.multilingual else "en")
        if fixed:
            runs = [(fixed, list(speech))]
        else:
            # Each turn its own language: regions cut at the pauses the VAD's padding
            # joined across, and put back together where both sides share a language.
            pieces = Timeline([p for region in speech for p in split_at_pauses(audio, region, offset)])
            runs = _runs(self._region_languages(audio, pieces, offset, visit_languages))
        out: list[Segment] = []
        translations: list[Translation] = []
        for lang, regions in runs:
            for chunk in plan_chunks(audio, Timeline(regions), offset, _CHUNK_SECONDS, _GAP_SECONDS):
                packed, pieces = _pack(audio, chunk.regions, offset)
                if not pieces:
                    continue
                try:
                    segments, said = self._transcribe_packed(packed, pieces, lang)
                    if translate_to is not None and said != translate_to and segments:
                        translations.extend(self._translate_packed(packed, pieces, said, translate_to, chunk))
                finally:
                    packed.fill(0.0)  # our copy of the visit's speech; zeroed like the rest
                kept = _kept(segments, chunk, out[-1].words[-1] if out else None)
                out.extend(replace(seg, language=said) for seg in kept)
        return Recognition(tuple(out), main_language(out) or fixed or "en", tuple(translations))

    def _region_languages(
        self, audio: np.ndarray, speech: Timeline, offset: float, visit_languages: Collection[str] = ()
    ) -> list[tuple[Span, str]]:
        """Each region of ``speech`` with its language, by ``options.language_id``
        (``LanguageIdParams``, which says how and why): Whisper's probabilities per
        region (restricted to ``options.languages`` when given), the visit's languages
        (a region's most probable one at ``visit_probability`` or more, plus
        ``visit_languages``), each region decided among those; short and unsure regions
        take their neighbour's. With no language sure anywhere, the one most of the
        speech was most probably in."""
        params = self.options.language_id
        candidates = set(self.options.languages)
        probabilities: list[dict[str, float] | None] = []
        sure: set[str] = {lang for lang in visit_languages if not candidates or lang in candidates}
        likely: dict[str, float] = {}
        for region in speech:
            if region.duration < params.min_seconds:
                probabilities.append(None)
                continue
            a = max(int(round((region.start - offset) * SAMPLE_RATE)), 0)
            b = min(a + int(_DETECT_SECONDS * SAMPLE_RATE), int(round((region.end - offset) * SAMPLE_RATE)), audio.size)
            clip = np.array(audio[a:b], dtype=np.float32)
            try:
                # Among all of Whisper's languages, its own detection (the clip padded to
                # 30 s, as it was trained) is needed; among the site's few, the clip's own
                # frames decide nearly as well at a seventh of the cost (TUNING visits,
                # share of turn seconds right with the settings chosen, any language:
                # padded 0.971, unpadded 0.857; the site's: 0.989 and 0.978; 1.06 against
                # 0.16 CPU s per region: benchmarks/language_id_rules.py).
                if candidates:
                    ranked = language_probabilities(self._model, clip)
                else:
                    _, _, ranked = self._model.detect_language(audio=clip)
            finally:
                clip.fill(0.0)
            probs = {lang: p for lang, p in ranked if not candidates or lang in candidates}
            probabilities.append(probs)
            if probs:
                top = max(probs, key=probs.__getitem__)
                likely[top] = likely.get(top, 0.0) + region.duration
                if probs[top] >= params.visit_probability:
                    sure.add(top)
        if not sure:
            sure = {max(likely, key=likely.__getitem__)} if likely else {min(candidates) if candidates else "en"}
        decided: list[str | None] = []
        for probs in probabilities:
            among = {lang: p for lang, p in (probs or {}).items() if lang in sure}
            total = sum(among.values())
            if not among or total <= 0:
                decided.append(None)
                continue
            top = max(among, key=among.__getitem__)
            decided.append(top if among[top] / total >= params.min_probability else None)
        first = next((d for d in decided if d is not None), None) or max(sure, key=lambda lang: likely.get(lang, 0.0))
        out: list[tuple[Span, str]] = []
        last = first
        for region, lang in zip(speech, decided):
            last = lang or last
            out.append((region, last))
        if decided:
            logger.debug(
                "languages of %d regions: %d decided among %d language(s), %d from a neighbour",
                len(decided), sum(d is not None for d in decided), len(sure), sum(d is None for d in decided),
            )
        return out

    def _translate_packed(
        self, packed: np.ndarray, pieces: list[_Piece], source: str, target: str, chunk: Chunk
    ) -> list[Translation]:
        """Whisper's translate task on the audio just recognised: its segments, mapped
        back to the visit's time (each end through the piece it falls in), those whose
        middle is this chunk's (``Chunk.keep``).

        A translated segment Whisper itself would not trust is dropped, leaving its
        speech untranslated (out of the note, still on the page) rather than in the note
        as words nobody said: a decoder loop (gzip compression ratio above
        ``_LOOP_COMPRESSION``, or the segment before repeated word for word) or a
        low-confidence decode (mean token log-probability below ``_MIN_LOGPROB``)."""
        segments, _ = self._model.transcribe(
            packed,
            language=source,
            task="translate",
            beam_size=self.options.beam_size,
            vad_filter=False,
            word_timestamps=False,
            condition_on_previous_text=False,
            initial_prompt=self.options.vocabulary,
            temperature=0.0,  # as recognition: greedy, no sampling fallback
        )
        out: list[Translation] = []
        dropped = 0
        for seg in segments:
            text = seg.text.strip()
            start, end = _unpack(seg.start, pieces, seg.start), _unpack(seg.end, pieces, seg.end)
            if not text or not chunk.keeps(start, end):
                continue
            if (
                seg.compression_ratio > _LOOP_COMPRESSION
                or seg.avg_logprob < _MIN_LOGPROB
                or (out and normalize_text(out[-1].text) == normalize_text(text))
            ):
                dropped += 1
                continue
            out.append(Translation(start, max(end, start), source, target, text))
        if dropped:
            logger.debug("dropped %d translated segment(s) Whisper would not trust", dropped)
        return out

    def _transcribe_packed(
        self, packed: np.ndarray, pieces: list[_Piece], language: str | None
    ) -> tuple[list[Segment], str]:
        segments, info = self._model.transcribe(
            packed,
            language=language,
            beam_size=self.options.beam_size,
            vad_filter=False,  # already applied: packed holds speech only
            word_timestamps=True,
            # Conditioning on previous text makes small models loop ("Hello. Hello.")
            condition_on_previous_text=False,
            initial_prompt=self.options.vocabulary,
            # Greedy only, no fallback to sampling at higher temperatures: the fallback
            # is triggered by text that compresses well, and real repetition does ("breathe
            # in, breathe out" said four times: gzip ratio 2.47 > faster-whisper's 2.4),
            # and sampling then wrote a different transcript of the same audio each run.
            # A decoder loop is caught by its missing audio instead (speech/repeats.py).
            # The samples' WER was the same with and without the fallback (tiny.en).
            temperature=0.0,
        )
        segments = list(segments)
        decoded = [(n, w) for n, seg in enumerate(segments) for w in (seg.words or ()) if w.word.strip()]
        repeats = repeated_without_audio(
            decoded, text=lambda nw: nw[1].word, has_audio=lambda nw: _has_audio(nw[1].start, nw[1].end, pieces)
        )
        if repeats:
            logger.debug("dropped %d repeated words without audio", len(repeats))
        out: list[Segment] = []
        for n, seg in enumerate(segments):
            words = tuple(
                Word(
                    start=_unpack(w.start, pieces, (w.start + w.end) / 2),
                    end=_unpack(w.end, pieces, (w.start + w.end) / 2),
                    text=w.word.strip(),
                    probability=round(float(w.probability), 3),
                )
                for k, (m, w) in enumerate(decoded)
                if m == n and k not in repeats
            )
            if not words:
                continue
            dropped = any(m == n and k in repeats for k, (m, _) in enumerate(decoded))
            out.append(_segment(words, None if dropped else seg.text.strip()))
        return out, info.language


def language_probabilities(model, audio: np.ndarray) -> list[tuple[str, float]]:
    """Whisper's probability of each language for ``audio`` ((n,) float32 at 16 kHz, at
    most 30 s), most probable first, from the encoder run on the audio's own frames
    rather than on 30 s of padding (``WhisperModel.detect_language`` pads): the encoder's
    cost grows with its input, 1.41 s against 0.26 s for a 6 s region on this machine.

    Parameters
    ----------
    model : faster_whisper.WhisperModel
    audio : np.ndarray

    Returns
    -------
    list[tuple[str, float]]
        (ISO 639-1 code, probability), as ``detect_language`` gives them.
    """
    import ctranslate2

    features = model.feature_extractor(audio)[:, : _DETECT_FRAMES]
    frames = max(features.shape[1] + features.shape[1] % 2, _MIN_DETECT_FRAMES)  # the encoder halves the frames
    padded = np.zeros((features.shape[0], frames), dtype=np.float32)
    padded[:, : features.shape[1]] = features
    result = model.model.detect_language(ctranslate2.StorageView.from_array(padded[None]))[0]
    return [(token[2:-2], p) for token, p in result]


def _runs(regions: list[tuple[Span, str]]) -> list[tuple[str, list[Span]]]:
    """Consecutive regions of one language, grouped: each group is recognised (and
    translated) in its language. Regions that touch (pieces of one VAD region, cut at a
    pause) and share a language are joined again, so they are recognised as the one
    region they were."""
    out: list[tuple[str, list[Span]]] = []
    for region, lang in regions:
        if out and out[-1][0] == lang:
            last = out[-1][1][-1]
            if abs(last.end - region.start) < 1e-6:
                out[-1][1][-1] = Span(last.start, region.end)
            else:
                out[-1][1].append(region)
        else:
            out.append((lang, [region]))
    return out


def _segment(words: tuple[Word, ...], text: str | None = None) -> Segment:
    """A segment of ``words`` (in order); its text Whisper's, else the words joined."""
    words = _monotonic(words)
    return Segment(
        id="",
        start=words[0].start,
        end=words[-1].end,
        text=text if text is not None else " ".join(w.text for w in words),
        words=words,
    )


def _kept(segments: list[Segment], chunk: Chunk, previous: Word | None) -> list[Segment]:
    """The words of ``segments`` on ``chunk``'s side of its cuts. A word at a cut that
    the chunk before also kept (same text, overlapping in time) is kept once."""
    out: list[Segment] = []
    for seg in segments:
        words = tuple(w for w in seg.words if chunk.keeps(w.start, w.end))
        if not words:
            continue
        if previous is not None and chunk.keep[0] != float("-inf"):
            first = words[0]
            if normalize_text(first.text) == normalize_text(previous.text) and first.start < previous.end:
                words = words[1:]
        previous = None  # only the chunk's first kept word can double the one before's last
        if not words:
            continue
        out.append(seg if len(words) == len(seg.words) else _segment(words))
    return out


def _has_audio(start: float, end: float, pieces: list[_Piece]) -> bool:
    """Whether a word at ``start``-``end`` (seconds in the packed audio) was given
    audio: longer than one Whisper frame, and overlapping one of the pieces (not only
    the silence put between them or past the last)."""
    if end - start < 2 * FRAME_SECONDS - 1e-6:
        return False
    return any(start < p.concat_start + p.duration and p.concat_start < end for p in pieces)


def _pack(audio: np.ndarray, speech, offset: float) -> tuple[np.ndarray, list[_Piece]]:
    gap = np.zeros(int(_GAP_SECONDS * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    pieces: list[_Piece] = []
    t = 0.0
    for region in speech:
        a = int(round((region.start - offset) * SAMPLE_RATE))
        b = int(round((region.end - offset) * SAMPLE_RATE))
        a, b = max(a, 0), min(b, audio.size)
        if b - a < SAMPLE_RATE // 20:
            continue
        if parts:
            parts.append(gap)
            t += _GAP_SECONDS
        parts.append(audio[a:b])
        pieces.append(_Piece(t, offset + a / SAMPLE_RATE, (b - a) / SAMPLE_RATE))
        t += (b - a) / SAMPLE_RATE
    if not parts:
        return np.zeros(0, dtype=np.float32), []
    return np.concatenate(parts).astype(np.float32, copy=False), pieces


def _unpack(t: float, pieces: list[_Piece], anchor: float) -> float:
    """Map a time in the packed audio back to the recording, resolving both ends of a
    word through the piece its midpoint (``anchor``) falls in."""
    piece = pieces[0]
    for p in pieces:
        if p.concat_start - _GAP_SECONDS / 2 <= anchor:
            piece = p
        else:
            break
    local = min(max(t - piece.concat_start, 0.0), piece.duration)
    return round(piece.orig_start + local, 3)


def _monotonic(words: tuple[Word, ...]) -> tuple[Word, ...]:
    # Clamping into pieces can leave a word ending before it starts or before the
    # previous word; downstream (alignment, WebVTT) relies on order.
    out: list[Word] = []
    last = 0.0
    for w in words:
        start = max(w.start, last)
        end = max(w.end, start)
        out.append(Word(start, end, w.text, w.probability))
        last = end
    return tuple(out)
