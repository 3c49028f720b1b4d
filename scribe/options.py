"""The one options object a visit is processed with.

Every output echoes it (``ScribeOptions.to_dict``), so a transcript or note can always be
traced to the backends, model, thresholds and template that produced it. Hyperparameters
that are tuned against a metric (VAD, diarization) carry the value we measured best as
default.

Backends are chosen by name (``speech``, ``vad_backend``, ``diarizer``, ``role_labeller``,
``drafter``), each from its seam's registry (``scribe.registry``). A backend's own knobs
ride along here so that they are echoed with the rest, but only that backend reads them:
``vad`` is the silero detector's, ``diarization`` the embedding diarizer's; no seam's
protocol mentions them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Where and in what precision a note model runs (``ScribeOptions.note_device`` /
# ``note_dtype``, ``--note-device`` / ``--note-dtype``, the config's [note] table);
# ``scribe.notes.hf.placement`` resolves "auto".
NOTE_DEVICES = ("auto", "cpu", "cuda")
NOTE_DTYPES = ("auto", "float32", "float16", "bfloat16")


# A language as options, configs and transcript files name it: an ISO 639-1 code (two
# lowercase letters, "en", "es") or the three-letter ISO 639-3 code of a language 639-1
# lacks (Whisper's "haw", "yue"). Whether a model knows it is the model's to say.
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def is_language_code(value: object) -> bool:
    """True for a string shaped like a language code (``"en"``, ``"yue"``), else False."""
    return isinstance(value, str) and _LANGUAGE_CODE.fullmatch(value) is not None


def language_codes(text: str) -> tuple[str, ...]:
    """``--languages en,es``: the codes separated by commas (spaces ignored, lower case,
    each once, in order). Raises ``ValueError`` naming the first code that is not one
    (a short code, never a visit's words)."""
    codes: list[str] = []
    for part in text.split(","):
        code = part.strip().lower()
        if not code:
            continue
        if not is_language_code(code):
            raise ValueError(f"{code[:12]!r} is not a language code (en, es, fr, ...)")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


# Whisper reads at most 223 tokens of prompt: faster-whisper keeps the last
# max_length // 2 - 1 = 448 // 2 - 1 of them, so the terms given first are the ones
# dropped when a list is longer (about 1,000 characters of English terms).
PROMPT_TOKENS = 223


def split_terms(text: str | None) -> list[str]:
    """Terms separated by commas or newlines, each stripped, empty ones dropped; a
    prompt's closing period ("ibuprofen, meloxicam.") is not part of its last term."""
    text = (text or "").strip()
    if text.endswith("."):
        text = text[:-1]
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


def vocabulary_prompt(*groups) -> str | None:
    """The terms of ``groups`` (iterables of str, in order: the site's, the clinician's,
    the command line's, the visit's) as the one prompt sentence Whisper is given
    ("ibuprofen, meloxicam."); a term already given (in any case) is not repeated.
    None when there are none. The most specific group goes last: Whisper keeps the end
    of a prompt longer than ``PROMPT_TOKENS``."""
    seen: set[str] = set()
    terms: list[str] = []
    for group in groups:
        for term in group or ():
            key = term.strip().casefold()
            if key and key not in seen:
                seen.add(key)
                terms.append(term.strip())
    return ", ".join(terms) + "." if terms else None


@dataclass(frozen=True)
class VadParams:
    """Silero VAD settings (tuned on samples/ and ami-debug trn), in milliseconds
    except ``threshold`` (speech probability)."""

    # Measured on ami-debug: 0.35 with 200 ms padding halves missed speech against
    # silero's defaults (0.5, 30 ms) at no cost in false alarm. Re-tuned for issue 14
    # on ami-debug trn01-trn09 only (benchmarks/vad_tuning.py, DER at collar 0 of the
    # reported turns): 0.35 is still best (0.2-0.3 and 0.45-0.5 all 1.6-3.1 points
    # worse); minimum speech and silence move it by under 0.1 point. The single-speaker
    # speech it misses (7% of trn speech) scores under 0.1 in silero for 93% of its
    # frames, so no threshold finds it.
    threshold: float = 0.35
    min_speech_ms: int = 250
    min_silence_ms: int = 300
    speech_pad_ms: int = 200
    # Who spoke when is reported over the unpadded regions widened by these
    # (``scribe.speakers.turns.speech_turns``); the recogniser still gets speech_pad_ms.
    # Tuned on trn (benchmarks/vad_tuning.py), DER at collar 0 by (onset, offset) pad:
    # (0, 0) 0.478, (100, 100) 0.431, (150, 150) 0.420, (200, 200) (no crop) 0.419,
    # (100, 200) 0.415, (150, 200) 0.411 (best; the offset cannot exceed the 200 ms the
    # diarizer was given). AMI's reference turns reach past silero's unpadded edges,
    # the end more than the start. The samples (references end where the synthesized
    # voice does; reported, not tuned: benchmarks/turn_pad_samples.py) score 0.019 at
    # (0, 0), 0.050 at (100, 100), 0.066 at (150, 200), 0.068 uncropped: their 5%
    # target needs pads that trn refuses.
    turn_onset_pad_ms: int = 150
    turn_offset_pad_ms: int = 200


@dataclass(frozen=True)
class DiarizationParams:
    """Sliding-window speaker embedding + clustering: the knobs of the ``embedding``
    diarizer (``scribe.speakers.embedding``), read by no other backend.

    window/step: 1.5-1.6 s windows every 0.5 s separate speakers in fast turn-taking
    where whole-segment embeddings blur them.

    Speaker count (``scribe.speakers.embedding.count_speakers``), chosen with
    ``benchmarks/speaker_count.py`` on the tuning set (synthetic 1-, 2- and 3-voice visits
    of ``tests/voice_visits.py``, ami-debug trn01-trn09): speakers are counted on the
    windows wholly inside speech, and k is the largest count whose k-means centroids are
    pairwise below ``max_centroid_similarity`` (cosine) and each hold at least
    ``min_speaker_seconds`` of speech in runs at least a window long.

    Live visits give each committed line a provisional speaker before the final
    clustering: the mean of its windows is compared (cosine) with the speakers heard so
    far and joins the closest at or above ``new_speaker_similarity``; below it, a new
    speaker starts, up to ``max_speakers``. 0.75 was not tuned on its own: it lies in the
    0.67-0.88 range measured for two voices' k=2 centroids on ami-debug and samples/,
    below one voice's 0.90-0.97 (windows at sentence edges included); tests/test_streaming.py checks that on samples/cough_visit the
    provisional speakers are the final clustering's two people.
    """

    window: float = 1.6  # seconds of speech per embedding window
    step: float = 0.25  # seconds between window centres
    min_speakers: int = 1
    max_speakers: int = 4  # most speakers a visit is taken to have (batch and live)
    # Two centroids this alike (cosine) are one voice split in two. Measured on the
    # tuning set: one synthetic voice split in two, 0.94-0.97; three synthetic voices'
    # k=3 centroids, at most 0.80; the most distinct k=3 split of a two-voice visit whose
    # clusters all hold speech runs, 0.886. Every value from 0.81 to 0.88 counts all 12
    # synthetic tuning visits right; 0.85 sits mid-range. ami-debug trn01-trn09 count
    # 5-6 of 9 right across that range (against speakers with >= 2 s of speech).
    max_centroid_similarity: float = 0.85
    # Seconds a speaker needs in runs of windows at least a window long. A third voice
    # reading a few lines holds 8-13 s (synthetic tuning visits); the mixture of two
    # voices at turn changes, which k-means can make a cluster of, holds 0 s (a run
    # crossing a turn change is short). 1.0-1.5 s counted the tuning set best (ami-debug
    # trn08's third speaker holds 1.5 s; 2 s loses it), but one voice coaching "breathe
    # in, breathe out" six times (tests/test_repetitions.py, flite rms) splits into two
    # clusters 0.795 alike holding 2.0 s: 2.5 s keeps it one voice. At 2.5 s the
    # synthetic visits stay 12/12 tuning and 9/9 held out, and ami-debug trn counts 5 of 9
    # (trn08's third speaker lost, whose 3-speaker split had raised its DER 0.565 -> 0.618).
    min_speaker_seconds: float = 2.5
    median_filter: int = 3  # in steps; removes one-window speaker flickers
    new_speaker_similarity: float = 0.75  # live: below this to every known voice, a new speaker


@dataclass(frozen=True)
class LanguageIdParams:
    """How a multilingual speech model decides the language of each speech region
    (``scribe.speech.whisper``) when ``ScribeOptions.language`` is not given.

    Whisper gives each region a probability per language. A visit is held in a few
    languages, not ninety-nine: the visit's languages are those some region is at least
    ``visit_probability`` sure of (plus those heard earlier in the visit), and every
    region is decided among them only. A region shorter than ``min_seconds``, or less
    than ``min_probability`` sure among them, takes the language of the region before it
    (the first ones, the first decided region's).

    Tuned on tests/language_visits.py's TUNING visits (benchmarks/language_id_rules.py,
    Whisper base int8), share of reference turn seconds given their language, jointly
    with ``scribe.speech.chunks.PAUSE_SECONDS`` (regions cut at pauses), any language
    (Whisper's detection, padded to 30 s) / the site's languages given (en, es, it; the
    clip's own frames, as ``scribe.speech.whisper`` does then):

    - regions as the VAD gives them (both padded): each region's own most probable
      language 0.814 / 0.875; decided among the visit's languages at ``visit_probability`` 0.5 0.910 /
      0.910, 0.7 0.880 / 0.880;
    - cut at 0.3 s pauses: own 0.841 / 0.942; visit set 0.5 0.932 / 0.963, 0.6 0.940 /
      0.978, 0.7 0.971 / 0.978, 0.8 0.971 / 0.978, 0.9 0.922 / 0.867;
    - cut at 0.2 s pauses: visit set 0.7 0.977 / 0.926, 0.8 0.986 / unmeasured.

    0.3 s and 0.7 are best with the site's languages and near best without. HELD_OUT,
    reported: 0.769 / 0.844 (own, uncut) -> 0.954 / 0.972.
    """

    # Above Whisper's own bar for a detected language (faster-whisper's
    # language_detection_threshold, 0.5): a 2 s "No, nada de eso." heard as Japanese at
    # 0.69 brought Japanese into a visit.
    visit_probability: float = 0.7
    # Among the visit's languages; chosen (the tuning regions are rarely that unsure).
    min_probability: float = 0.5
    # Such a region is a "Sí." or an "OK", which says little of its language; skipping it
    # also saves an encoder pass. TUNING, regions cut at 0.3 s pauses, at visit set 0.5:
    # 1.0 s 0.933, 1.5 s 0.921, 2.0 s 0.921, none 0.932 (the site's: 0.963, 0.949, 0.944,
    # 0.963).
    min_seconds: float = 1.0


@dataclass(frozen=True)
class ScribeOptions:
    """How a visit is processed: which backends, their settings, and the note template.

    Backend names are registry keys (``scribe.registry``); an unknown one raises
    ``UnknownBackendError`` when the pipeline is built, before any model loads.
    """

    speech: str = "whisper"  # speech model (scribe.speech.SPEECH_MODELS)
    vad_backend: str = "silero"  # voice activity detector (scribe.audio.VAD_BACKENDS)
    diarizer: str = "embedding"  # who spoke when (scribe.speakers.DIARIZERS)
    role_labeller: str = "cues"  # clinician/patient from what was said (scribe.speakers.ROLE_LABELLERS)
    drafter: str = "extractive"  # visit note (scribe.notes.DRAFTERS)
    # The model drafters' (``llm``, ``audio-llm``) model: a local transformers
    # save_pretrained folder (config.json, tokenizer or processor files, weights) or a
    # GGUF file (``llm``); nothing is downloaded.
    note_model: str | None = None
    # The pyannote diarizer's (``--diarizer pyannote``) model: a local pyannote.audio
    # pipeline folder (config.yaml, segmentation/, embedding/, plda/); nothing is downloaded.
    diarizer_model: str | None = None
    note_device: str = "auto"  # the note model's device: cpu, cuda, or auto (cuda when present)
    note_dtype: str = "auto"  # float32, float16, bfloat16, or auto (float32 on cpu, bfloat16 on cuda)
    model: str = "tiny.en"  # "tiny.en", "base", or a CTranslate2 Whisper folder
    # The language spoken: one ISO 639-1 code fixes it for the whole visit; None: English
    # for an English-only model, else detected per speech region (``languages`` limits
    # the choice; ``LanguageIdParams`` decides short and uncertain regions).
    language: str | None = None
    languages: tuple[str, ...] = ()  # the languages a site's visits are held in; (): any Whisper knows
    language_id: LanguageIdParams = field(default_factory=LanguageIdParams)
    # The language the note is written in. Speech in another language is translated into
    # it (the speech model's translate task) and the note drafted from the translations.
    note_language: str = "en"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: CTranslate2 picks
    beam_size: int = 1
    # Clinical terms given to Whisper as its initial prompt ("ibuprofen, meloxicam."): the
    # config's [recognition] terms and clinician_terms, then --vocabulary
    # (vocabulary_prompt); a live visit adds the recorder page's terms to these.
    vocabulary: str | None = None
    speakers: int | None = None  # fixed speaker count; None: estimated
    template: str = "soap"
    # A long recording is decoded and processed block by block so memory stays flat.
    block_seconds: float = 600.0
    vad: VadParams = field(default_factory=VadParams)  # the silero detector's
    diarization: DiarizationParams = field(default_factory=DiarizationParams)  # the embedding diarizer's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
