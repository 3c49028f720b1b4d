"""The ``audio-llm`` drafter: an audio-language model drafts the visit note from the visit's
audio itself, window by window, with the transcript lines of each window in its prompt,
under the same grounding guard as the ``llm`` drafter.

Steps:

1. **Windows.** The visit is cut into windows no longer than the model hears at once
   (``Family.limit``, read from the model's processor or config), in pauses between
   transcript segments (``scribe.notes.audio_windows``). Each window is decrypted from
   the visit's buffer (``AudioSource.window``), turned into the model's features, and
   both are zeroed as soon as the window is drafted.
2. **Prompt.** The template's sections (``id: title``), the audio, and the window's
   transcript lines ``[s3] CLINICIAN: text``; the model answers one line per sentence,
   ``SECTION_ID: sentence [s1, s4]`` (the ``llm`` drafter's format and parser). The
   processor's chat template places the audio (an ``{"type": "audio"}`` content item);
   where a family's template does not, its placeholder (``FAMILIES``) goes at the head
   of the user turn.
3. **Merge.** Each section's sentences in window order, exact duplicates dropped.
4. **Guard.** Every sentence goes through ``GroundingGuard.ground`` against the whole
   transcript: evidence is transcript segment ids, and a sentence the transcript does
   not support is kept with the guard's reasons as flags.

Without audio (``scribe draft`` from a transcript file, a standard-mode live visit) the
same model drafts from the transcript text alone, as the ``llm`` drafter does
(``text_drafter``: the transcript chunked by the model's text context, not its audio
limit; these models take text-only prompts). Loads from a local folder only (``local_files_only``). Logs are
metadata only (counts, seconds, model type): never transcript, note or audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privacy import SAMPLE_RATE
from scribe.notes.audio_windows import AudioWindow, plan_windows
from scribe.notes.base import AudioSource, DraftProgress
from scribe.notes.guard import GroundingGuard
from scribe.notes.hf import ModelLoadError, first_line, model_folder, placement, quiet_transformers
from scribe.notes.llm import LlmDrafter, LlmParams, parse_output, transcript_line
from scribe.notes.templates import Template
from scribe.options import ScribeOptions
from scribe.types import Note, NoteSection, NoteSentence, Transcript

logger = logging.getLogger("scribe.notes.audio_llm")

VERSION = "0.1.0"


# -- families ------------------------------------------------------------------------


def _whisper_window(processor: Any, config: Any) -> float:
    """Whisper-style feature extractors pad or cut audio to ``n_samples`` (``chunk_length``
    30 s x 16 kHz): what the encoder sees in one pass."""
    fe = _feature_extractor(processor)
    return float(fe.n_samples) / float(fe.sampling_rate)


def _phi4_window(processor: Any, config: Any) -> float:
    """Phi-4-multimodal's conformer has 500 absolute positions (``max_seq_len = 500`` in
    transformers' ``Phi4MultimodalAudioModel``; longer input is folded into independent
    chunks), each ``time_reduction`` (8) feature frames of ``hop_length`` (160) samples:
    500 x 8 x 160 / 16000 = 40 s."""
    fe = _feature_extractor(processor)
    reduction = int(getattr(getattr(config, "audio_config", None), "time_reduction", 8))
    return 500 * reduction * int(getattr(fe, "hop_length", 160)) / float(fe.sampling_rate)


def _seconds(value: float) -> Callable[[Any, Any], float]:
    return lambda processor, config: value


@dataclass(frozen=True)
class Family:
    """What differs between audio-language model families, in one place.

    ``placeholder``: the text that stands for one audio clip in a prompt whose chat
    template does not place it from an ``{"type": "audio"}`` item; ``{audio}`` is the
    processor's (or tokenizer's) audio token. ``window``: the longest audio (seconds) the
    model hears in one pass, read from the processor or config where they say it (the
    functions' docstrings give the source). ``embed_sizes``: for a family whose processor
    may not load (Phi-4-multimodal's needs torchvision for images), the feature
    extractor output that counts the audio tokens, so the drafter expands the
    placeholder itself from the tokenizer and feature extractor.
    """

    placeholder: str
    window: Callable[[Any, Any], float]
    embed_sizes: str | None = None


FAMILIES: dict[str, Family] = {
    # Qwen2-Audio: Whisper features, padded to 30 s; <|AUDIO|> expanded by the processor.
    "qwen2_audio": Family("<|audio_bos|>{audio}<|audio_eos|>", _whisper_window),
    # Voxtral: Whisper features; the processor splits audio into 30 s chunks (mistral-common
    # tokenizer); windows of one chunk.
    "voxtral": Family("{audio}", _whisper_window),
    "phi4_multimodal": Family("{audio}", _phi4_window, embed_sizes="audio_embed_sizes"),
    # Gemma 3n: a fixed 188 audio tokens per clip (processor ``audio_seq_length``); the
    # model card gives clips of up to 30 s.
    "gemma3n": Family("{audio}", _seconds(30.0)),
    # Granite-Speech: neither config nor processor states a limit (the encoder attends in
    # blocks of ``context_size`` frames); 30 s, Whisper's window, the shortest of the
    # families here.
    "granite_speech": Family("{audio}", _seconds(30.0)),
}


def _feature_extractor(processor: Any) -> Any:
    for name in ("feature_extractor", "audio_processor"):
        fe = getattr(processor, name, None)
        if fe is not None:
            return fe
    return processor


@dataclass(frozen=True)
class AudioLlmParams:
    """Settings of the ``audio-llm`` drafter.

    ``max_new_tokens``: the generation budget per window (512 tokens is about 35 note
    lines, more than one window of a visit gives). ``window_seconds``: a shorter window
    than the model's limit (None: the limit). ``device``, ``dtype``: where and in what
    precision the model runs (``scribe.notes.hf.placement``).
    """

    max_new_tokens: int = 512
    window_seconds: float | None = None
    device: str = "cpu"
    dtype: str = "float32"


_SYSTEM = (
    "You are a clinical scribe. Listen to the visit audio and write the visit note. Use only facts said in "
    "the visit. The transcript of this part of the visit is given with line ids. Write one sentence per line, "
    "as SECTION_ID: sentence [segment ids], citing the transcript lines that say it, for example: {example}"
)


class _ManualProcessor:
    """Tokenizer and feature extractor standing in for a processor that cannot load:
    the family's audio placeholder is expanded to ``embed_sizes`` audio tokens here."""

    def __init__(self, tokenizer: Any, feature_extractor: Any, embed_sizes: str):
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.embed_sizes = embed_sizes
        self.chat_template = getattr(tokenizer, "chat_template", None)
        self.audio_token = getattr(tokenizer, "audio_token", None)

    def apply_chat_template(self, messages: list[dict], **kwargs: Any) -> str:
        return self.tokenizer.apply_chat_template(messages, **kwargs)

    def __call__(self, *, text: str, audio: list[np.ndarray] | None = None, **kwargs: Any) -> dict:
        data: dict[str, Any] = {}
        if audio:
            features = self.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            n = int(features[self.embed_sizes][0])
            text = text.replace(self.audio_token, self.audio_token * n, 1)
            data.update(features)
        data.update(self.tokenizer(text, return_tensors="pt", add_special_tokens=False))
        return data


class AudioLlmDrafter:
    """An audio-language model drafts the note from the visit's audio and transcript; the
    grounding guard finds each sentence's evidence and flags what the transcript does
    not support (``scribe.notes.Drafter``, ``listens = True``)."""

    name = "audio-llm"
    listens = True

    def __init__(self, model: Any, processor: Any, params: AudioLlmParams = AudioLlmParams(),
                 path: str | None = None, guard: GroundingGuard = GroundingGuard()):
        self.model = model
        self.processor = processor
        self.params = params
        self.path = path
        self.guard = guard
        config = getattr(model, "config", None)
        self.model_type = getattr(config, "model_type", None) or "model"
        family = FAMILIES.get(self.model_type)
        if family is None:
            raise ModelLoadError(f"{path or 'note model'}: {self.model_type} is not an audio-language model family")
        self.family = family
        self.window_limit = family.window(processor, config)
        if params.window_seconds is not None:
            self.window_limit = min(self.window_limit, params.window_seconds)
        self.version = f"{VERSION}+{self.model_type}:{Path(path).name if path else 'memory'}"

    # -- loading -------------------------------------------------------------------
    @classmethod
    def from_options(cls, options: ScribeOptions) -> "AudioLlmDrafter":
        """The model folder ``options.note_model`` on ``options.note_device`` in
        ``options.note_dtype``."""
        if not options.note_model:
            raise ModelLoadError("--drafter audio-llm needs --note-model PATH or [note] model in the config (a transformers audio-language model folder)")
        where = placement(options.note_device, options.note_dtype)
        return cls.load(options.note_model, AudioLlmParams(device=where.device, dtype=where.dtype))

    @classmethod
    def load(cls, path: str | Path, params: AudioLlmParams = AudioLlmParams()) -> "AudioLlmDrafter":
        """Processor and model from a local ``save_pretrained`` folder, through
        ``AutoProcessor`` and ``AutoModelForMultimodalLM``. Raises ``ModelLoadError``
        (one line: the path and the reason)."""
        started = time.perf_counter()
        folder = model_folder(path)
        try:
            import torch
            from transformers import AutoConfig, AutoModelForMultimodalLM
        except ImportError as e:  # pragma: no cover - a dependency
            raise ModelLoadError(f"{folder}: transformers is not installed ({e})") from None
        quiet_transformers()
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except Exception as e:  # ValueError, KeyError, OSError, TypeError, a JSON error in config.json
            raise ModelLoadError(f"{folder}: unsupported model configuration ({first_line(e)})") from None
        model_type = getattr(config, "model_type", None) or "?"
        family = FAMILIES.get(model_type)
        if family is None:
            arch = ", ".join(getattr(config, "architectures", None) or [model_type])
            raise ModelLoadError(
                f"{folder}: unsupported architecture {arch} for --drafter audio-llm "
                f"(audio-language models: {', '.join(sorted(FAMILIES))})"
            )
        dtype = getattr(torch, params.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise ModelLoadError(f"{folder}: unknown dtype {params.dtype!r}")
        processor = _load_processor(folder, family)
        try:
            model = AutoModelForMultimodalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except MemoryError:
            raise ModelLoadError(f"{folder}: out of memory loading the model") from None
        except ValueError as e:
            raise ModelLoadError(f"{folder}: unsupported architecture {model_type} ({first_line(e)})") from None
        except (OSError, RuntimeError) as e:
            reason = "out of memory loading the model" if "out of memory" in str(e).lower() else "cannot load the model weights"
            raise ModelLoadError(f"{folder}: {reason} ({first_line(e)})") from None
        except Exception as e:  # e.g. safetensors' SafetensorError for a damaged weights file
            raise ModelLoadError(f"{folder}: cannot load the model weights ({type(e).__name__}: {first_line(e)})") from None
        try:
            model.to(params.device)
        except (RuntimeError, MemoryError) as e:
            raise ModelLoadError(f"{folder}: cannot place the model on {params.device} ({first_line(e)})") from None
        model.eval()
        logger.info("loaded note model %s (%s, %.0f M parameters, %s %s) in %.1f s", folder.name, model_type,
                    sum(p.numel() for p in model.parameters()) / 1e6, params.device, params.dtype,
                    time.perf_counter() - started)
        return cls(model, processor, params, str(folder))

    # -- prompting -----------------------------------------------------------------
    @property
    def audio_token(self) -> str:
        """The processor's (or tokenizer's) token for audio."""
        token = getattr(self.processor, "audio_token", None) or getattr(self._tokenizer, "audio_token", None)
        return str(token or "<|audio|>")

    @property
    def _tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    def placeholder(self) -> str:
        """The text standing for the window's audio where the chat template places none."""
        return self.family.placeholder.format(audio=self.audio_token)

    def prompt(self, template: Template, lines: Sequence[str], *, audio: bool = True) -> str:
        """The prompt text for ``lines`` (``[id] ROLE: text``), with the audio's
        placeholder when ``audio``: through the processor's chat template when it has
        one (an audio content item, or the family's placeholder where the template
        places none), else plain text."""
        first = template.sections[0].id if template.sections else "section"
        system = _SYSTEM.format(example=f"{first}: Cough for three days. [s1, s2]")
        user = (
            "Note sections (SECTION_ID: title):\n" + "\n".join(f"{s.id}: {s.title}" for s in template.sections)
            + "\n\nTranscript:\n" + "\n".join(lines) + "\n\nNote:"
        )
        head = self.placeholder() + "\n" if audio else ""
        if not getattr(self.processor, "chat_template", None):
            return f"{system}\n\n{head}{user}\n"
        items = [{"type": "audio"}] if audio else []
        attempts = (
            # An audio content item, the way processors' templates place audio.
            [{"role": "system", "content": [{"type": "text", "text": system}]},
             {"role": "user", "content": [*items, {"type": "text", "text": user}]}],
            # Templates that take plain-string contents: the placeholder in the text.
            [{"role": "system", "content": system},
             {"role": "user", "content": head + user}],
            # Templates without a system role.
            [{"role": "user", "content": system + "\n\n" + head + user}],
        )
        for messages in attempts:
            try:
                text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - a template's own error: try the next form
                continue
            if not isinstance(text, str) or "'type'" in text or (audio and self.audio_token not in text):
                continue
            return text
        # No form renders (a template for another modality): plain text, the placeholder at the head.
        return f"{system}\n\n{head}{user}\n"

    # -- generation ----------------------------------------------------------------
    def generate(self, prompt: str, audio: np.ndarray | None = None) -> str:
        """Greedy continuation of ``prompt`` with ``audio`` ((n,) float32 at 16 kHz, or
        None for text only), decoded. The feature tensors built from ``audio`` are
        zeroed before returning (on failure too)."""
        import torch

        if audio is not None:
            inputs = self.processor(text=prompt, audio=[audio], sampling_rate=SAMPLE_RATE, return_tensors="pt")
        else:
            inputs = self.processor(text=prompt, return_tensors="pt")
        made = [v for v in dict(inputs).values() if torch.is_tensor(v) and v.is_floating_point()]
        try:
            feed: dict[str, Any] = {}
            for k, v in dict(inputs).items():
                if torch.is_tensor(v):
                    v = v.to(self.params.device)
                    if v.is_floating_point():  # features in the model's precision; ids stay integers
                        v = v.to(self.model.dtype)
                        made.append(v)
                feed[k] = v
            tokenizer = self._tokenizer
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            prompt_length = int(feed["input_ids"].shape[1])
            with torch.inference_mode():
                out = self.model.generate(
                    **feed, max_new_tokens=self.params.max_new_tokens, do_sample=False, pad_token_id=pad
                )
            return tokenizer.decode(out[0, prompt_length:], skip_special_tokens=True)
        finally:
            for v in made:  # features are audio too (a copy on another device or dtype as well)
                v.zero_()

    # -- drafting ------------------------------------------------------------------
    def windows(self, transcript: Transcript, audio: AudioSource) -> tuple[AudioWindow, ...]:
        """The visit's windows: ``plan_windows`` at this model's limit over the audio's
        duration."""
        return plan_windows(transcript.segments, audio.duration, self.window_limit)

    def text_drafter(self) -> LlmDrafter:
        """This model as a text drafter (``llm``), for a visit without audio: the same
        weights and tokenizer, the transcript chunked by the model's text context rather
        than by its audio limit (a 30 s window of text would split the visit into
        fragments drafted blind to each other)."""
        from scribe.notes.hf import Placement

        return LlmDrafter(self.model, self._tokenizer, LlmParams(max_new_tokens=self.params.max_new_tokens),
                          self.path, self.guard, Placement(self.params.device, self.params.dtype))

    def draft(self, transcript: Transcript, template: Template, *, audio: AudioSource | None = None,
              progress: DraftProgress | None = None) -> Note:
        """The note from ``audio`` and ``transcript``, window by window;
        ``progress(done, total)`` after each window. Without ``audio`` the model drafts
        from the transcript text alone. Sentences the guard does not support carry its
        flags."""
        if audio is None:
            logger.info("drafting from the transcript text alone (no audio), as a text model")
            return self.text_drafter().draft(transcript, template, progress=progress)
        started = time.perf_counter()
        segments = transcript.segments
        by_id = {s.id: s for s in segments}
        valid = set(by_id)
        drafted: dict[str, list[NoteSentence]] = {s.id: [] for s in template.sections}
        seen: dict[str, set[str]] = {s.id: set() for s in template.sections}
        windows = self.windows(transcript, audio) if segments else ()
        flagged = 0
        for k, window in enumerate(windows):
            lines = [transcript_line(by_id[sid]) for sid in window.segment_ids]
            if lines:  # a window without speech has nothing the note could cite
                text = self._draft_window(template, lines, window, audio)
                for section, sentence, cited in parse_output(text, template, valid):
                    if sentence in seen[section]:
                        continue
                    seen[section].add(sentence)
                    grounded = self.guard.ground(sentence, segments, cited)
                    flagged += not grounded.supported
                    drafted[section].append(grounded)
            logger.debug("window %d of %d: %.1f s, %d lines", k + 1, len(windows), window.seconds, len(lines))
            if progress is not None:
                progress(k + 1, len(windows))
        total = sum(len(v) for v in drafted.values())
        logger.info("drafted %d sentences (%d unsupported) from %d audio windows in %.1f s", total, flagged,
                    len(windows), time.perf_counter() - started)
        return Note(
            template=template.id,
            title=template.title,
            loinc=template.loinc,
            sections=tuple(
                NoteSection(id=s.id, title=s.title, sentences=tuple(drafted[s.id]), loinc=s.loinc,
                            empty_text=s.empty_text)
                for s in template.sections
            ),
            status="preliminary",
            instructions=(),
        )

    def _draft_window(self, template: Template, lines: list[str], window: AudioWindow, audio: AudioSource) -> str:
        with audio.window(window.start, window.end) as samples:
            if samples.size == 0:  # the source holds less than the transcript says
                return self.generate(self.prompt(template, lines, audio=False))
            return self.generate(self.prompt(template, lines), samples)


def _load_processor(folder: Path, family: Family) -> Any:
    """``AutoProcessor`` from the folder; for a family with ``embed_sizes``, the
    tokenizer and feature extractor when the processor itself cannot load."""
    from transformers import AutoFeatureExtractor, AutoProcessor, AutoTokenizer

    try:
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # ValueError, OSError, ImportError (a missing optional package), a damaged file
        if family.embed_sizes is None:
            raise ModelLoadError(f"{folder}: cannot load the processor ({first_line(e)})") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            fe = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        except Exception as e2:
            raise ModelLoadError(f"{folder}: cannot load the processor ({first_line(e)}; {first_line(e2)})") from None
        if getattr(tokenizer, "audio_token", None) is None:
            raise ModelLoadError(f"{folder}: cannot load the processor ({first_line(e)}) and the tokenizer names no audio token")
        return _ManualProcessor(tokenizer, fe, family.embed_sizes)
    if getattr(processor, "tokenizer", None) is None or _feature_extractor(processor) is processor:
        raise ModelLoadError(f"{folder}: the processor has no tokenizer and audio feature extractor")
    return processor
