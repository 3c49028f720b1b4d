"""The ``llm`` drafter: a causal language model (any ``transformers`` save_pretrained folder
with a causal-LM architecture) drafts the note from the role-labelled transcript.

Steps:

1. **Prompt.** The template's sections (id and title) and the transcript as lines
   ``[s3] CLINICIAN: text``, so the model can cite segment ids; the model is asked for
   one line per sentence, ``SECTION_ID: sentence [s1, s4]``. The tokenizer's chat
   template is used when it has one, else a plain prompt.
2. **Chunks.** A transcript longer than the model's context
   (``config.max_position_embeddings`` minus the generation budget) is split into
   chunks of whole lines, drafted chunk by chunk (greedy decoding) and merged: each
   section's sentences in chunk order, exact duplicates dropped.
3. **Parsing.** Lines naming no section of the template are ignored; cited ids the
   transcript does not have are dropped.
4. **Guard.** Every sentence goes through ``GroundingGuard.check``: its evidence is the
   guard's (plus the model's valid citations when the guard found support). A sentence
   the guard does not support is kept with the guard's reasons as ``NoteSentence.flags``,
   for the clinician to accept or delete (``Note.counts()`` counts them).

Loads from a local folder only (``local_files_only``); nothing is downloaded. Registered
as ``"llm"`` in ``scribe.notes.DRAFTERS``; ``--note-model PATH`` names the folder.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribe.notes.base import DraftProgress
from scribe.notes.guard import GroundingGuard
from scribe.notes.hf import ModelLoadError
from scribe.notes.templates import Template
from scribe.options import ScribeOptions
from scribe.types import Note, NoteSection, NoteSentence, Role, Segment, Transcript

logger = logging.getLogger("scribe.notes.llm")

VERSION = "0.1.0"


@dataclass(frozen=True)
class LlmParams:
    """Generation settings of the ``llm`` drafter.

    ``max_new_tokens``: the generation budget per chunk (512 tokens is about 35 note lines
    of 12 words, more than a full SOAP note needs), at most half the model's context; it
    is reserved out of the context when the transcript is chunked. ``margin``: tokens kept free beyond it, for
    the tokenizer's end-of-prompt tokens and rounding. ``device`` and ``dtype``: where and
    in what precision the model runs (CPU float32 works everywhere, slowly).
    """

    max_new_tokens: int = 512
    margin: int = 8
    device: str = "cpu"
    dtype: str = "float32"


_SYSTEM = (
    "You are a clinical scribe. Write the visit note from the transcript. Use only facts said "
    "in the transcript. Write one sentence per line, as SECTION_ID: sentence [segment ids], "
    "citing the transcript lines that say it, for example: {example}"
)
_CITATION = re.compile(r"\[\s*([A-Za-z]*\d+(?:\s*[,;]\s*[A-Za-z]*\d+)*)\s*\]")
_LINE = re.compile(r"^\s*(?:[-*\u2022]\s*|\d+[.)]\s*)?\**\s*([A-Za-z][\w -]*?)\s*\**\s*:\s*(.*)$")


def _role_label(seg: Segment) -> str:
    if seg.role in (Role.CLINICIAN, Role.PATIENT, Role.OTHER):
        return seg.role.value.upper()
    return (seg.speaker or "SPEAKER").upper()


def transcript_line(seg: Segment) -> str:
    """A segment as the prompt shows it: ``[s3] CLINICIAN: text``."""
    return f"[{seg.id}] {_role_label(seg)}: {' '.join(seg.text.split())}"


def _sections_block(template: Template) -> str:
    return "\n".join(f"{s.id}: {s.title}" for s in template.sections)


def _instruction(template: Template) -> str:
    first = template.sections[0].id if template.sections else "section"
    return _SYSTEM.format(example=f"{first}: Cough for three days. [s1, s2]")


def _user_text(template: Template, lines: Sequence[str]) -> str:
    return (
        f"Note sections (SECTION_ID: title):\n{_sections_block(template)}\n\n"
        "Transcript:\n" + "\n".join(lines) + "\n\nNote:"
    )


def parse_output(text: str, template: Template, valid_ids: set[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The model's output as (section id, sentence, cited ids) in order. A line whose label
    is neither a section id nor a section title of ``template`` is ignored; cited ids not
    in ``valid_ids`` are dropped; citations are removed from the sentence."""
    by_key: dict[str, str] = {}
    for s in template.sections:
        by_key[s.id.lower()] = s.id
        by_key.setdefault(s.title.lower(), s.id)
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        section = by_key.get(m.group(1).strip().lower().replace(" ", "_")) or by_key.get(m.group(1).strip().lower())
        if section is None:
            continue
        body = m.group(2)
        cited: list[str] = []
        for c in _CITATION.finditer(body):
            for sid in re.split(r"\s*[,;]\s*", c.group(1).strip()):
                if sid in valid_ids and sid not in cited:
                    cited.append(sid)
        sentence = " ".join(_CITATION.sub(" ", body).split()).strip(" -*")
        if not re.search(r"[A-Za-z0-9]", sentence):
            continue
        out.append((section, sentence, tuple(cited)))
    return out


class LlmDrafter:
    """A causal LM drafts the note; the grounding guard finds each sentence's evidence
    and flags what the transcript does not support (``scribe.notes.Drafter``)."""

    name = "llm"
    reports_progress = True

    def __init__(self, model: Any, tokenizer: Any, params: LlmParams = LlmParams(), path: str | None = None,
                 guard: GroundingGuard = GroundingGuard()):
        self.model = model
        self.tokenizer = tokenizer
        self.params = params
        self.path = path
        self.guard = guard
        model_type = getattr(getattr(model, "config", None), "model_type", None) or "model"
        self.version = f"{VERSION}+{model_type}:{Path(path).name if path else 'memory'}"

    # -- loading -------------------------------------------------------------------
    @classmethod
    def from_options(cls, options: ScribeOptions) -> "LlmDrafter":
        """The model folder ``options.note_model``; ``LlmParams`` defaults otherwise."""
        if not options.note_model:
            raise ModelLoadError("--drafter llm needs --note-model PATH (a transformers model folder)")
        return cls.load(options.note_model)

    @classmethod
    def load(cls, path: str | Path, params: LlmParams = LlmParams()) -> "LlmDrafter":
        """Tokenizer and causal LM from a local ``save_pretrained`` folder. Raises
        ``ModelLoadError`` (one line: the path and the reason)."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelLoadError(f"{folder}: note model folder not found")
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{folder}: no config.json (not a transformers model folder)")
        try:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as e:  # pragma: no cover - a dependency
            raise ModelLoadError(f"{folder}: transformers is not installed ({e})") from None
        hf_logging.disable_progress_bar()  # one line per problem on stderr, no bars
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except (ValueError, KeyError, OSError) as e:
            raise ModelLoadError(f"{folder}: unsupported model configuration ({_first_line(e)})") from None
        try:
            dtype = getattr(torch, params.dtype)
        except AttributeError:
            raise ModelLoadError(f"{folder}: unknown dtype {params.dtype!r}") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (ValueError, KeyError, OSError, TypeError) as e:
            raise ModelLoadError(f"{folder}: cannot load the tokenizer ({_first_line(e)})") from None
        try:
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except ValueError as e:
            arch = ", ".join(getattr(config, "architectures", None) or [getattr(config, "model_type", "?")])
            raise ModelLoadError(f"{folder}: unsupported architecture {arch} for a causal LM ({_first_line(e)})") from None
        except (OSError, RuntimeError) as e:
            raise ModelLoadError(f"{folder}: cannot load the model weights ({_first_line(e)})") from None
        except MemoryError:
            raise ModelLoadError(f"{folder}: out of memory loading the model") from None
        model.to(params.device)
        model.eval()
        return cls(model, tokenizer, params, str(folder))

    # -- prompting -----------------------------------------------------------------
    def prompt(self, template: Template, lines: Sequence[str]) -> str:
        """The prompt text for ``lines`` (already ``[id] ROLE: text``): through the
        tokenizer's chat template when it has one, else plain."""
        user = _user_text(template, lines)
        if getattr(self.tokenizer, "chat_template", None):
            messages = [
                {"role": "system", "content": _instruction(template)},
                {"role": "user", "content": user},
            ]
            try:
                return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:  # a template without a system role: fold it into the user turn
                messages = [{"role": "user", "content": _instruction(template) + "\n\n" + user}]
                return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return _instruction(template) + "\n\n" + user + "\n"

    def _encode(self, prompt: str) -> list[int]:
        chat = bool(getattr(self.tokenizer, "chat_template", None))
        return list(self.tokenizer(prompt, add_special_tokens=not chat)["input_ids"])

    def context_budget(self) -> int:
        """Prompt tokens a chunk may use: the model's context minus the generation budget
        and the margin."""
        return self._context() - self.new_tokens() - self.params.margin

    def _context(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", None) or 2048)

    def new_tokens(self) -> int:
        """The generation budget: ``max_new_tokens``, at most half the context."""
        return min(self.params.max_new_tokens, self._context() // 2)

    def chunks(self, template: Template, segments: Sequence[Segment]) -> list[list[str]]:
        """The transcript's lines in chunks whose prompts fit ``context_budget``, each
        chunk whole lines in order (a single line too long for any chunk is split at
        words, each piece keeping its id)."""
        budget = self.context_budget()
        overhead = len(self._encode(self.prompt(template, [])))
        if overhead >= budget:
            raise ModelLoadError(
                f"{self.path or 'note model'}: context of {self._context()} tokens is too small for the "
                f"prompt ({overhead}) and {self.new_tokens()} new tokens"
            )
        room = budget - overhead

        def cost(line: str) -> int:
            return len(self.tokenizer("\n" + line, add_special_tokens=False)["input_ids"])

        pieces: list[tuple[str, int]] = []
        for seg in segments:
            line = transcript_line(seg)
            n = cost(line)
            if n <= room:
                pieces.append((line, n))
                continue
            head = f"[{seg.id}] {_role_label(seg)}:"
            words = seg.text.split()
            part: list[str] = []
            for w in words:
                trial = head + " " + " ".join([*part, w])
                if part and cost(trial) > room:
                    text = head + " " + " ".join(part)
                    pieces.append((text, cost(text)))
                    part = []
                part.append(w)
            if part:
                text = head + " " + " ".join(part)
                pieces.append((text, cost(text)))

        out: list[list[str]] = []
        current: list[str] = []
        used = 0
        for line, n in pieces:
            if current and used + n > room:
                out.append(current)
                current, used = [], 0
            current.append(line)
            used += n
        if current:
            out.append(current)
        # Per-line costs are summed separately; check each chunk's real length and move
        # lines to the next chunk while one is over.
        i = 0
        while i < len(out):
            while len(out[i]) > 1 and len(self._encode(self.prompt(template, out[i]))) > budget:
                moved = out[i].pop()
                if i + 1 < len(out):
                    out[i + 1].insert(0, moved)
                else:
                    out.append([moved])
            i += 1
        return out

    # -- generation ----------------------------------------------------------------
    def generate(self, prompt: str) -> str:
        """Greedy continuation of ``prompt`` (at most ``max_new_tokens``), decoded."""
        import torch

        ids = self._encode(prompt)
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.params.device)
        attention = torch.ones_like(input_ids)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=self.new_tokens(),
                do_sample=False,
                pad_token_id=pad,
            )
        return self.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)

    # -- drafting ------------------------------------------------------------------
    def draft(self, transcript: Transcript, template: Template, *, progress: DraftProgress | None = None) -> Note:
        """The note from ``transcript``, chunk by chunk; ``progress(done, total)`` after
        each chunk. Sentences the guard does not support carry its flags."""
        segments = transcript.segments
        valid = transcript.segment_ids()
        drafted: dict[str, list[NoteSentence]] = {s.id: [] for s in template.sections}
        seen: dict[str, set[str]] = {s.id: set() for s in template.sections}
        supported = unsupported = 0
        chunks = self.chunks(template, segments) if segments else []
        for k, lines in enumerate(chunks):
            text = self.generate(self.prompt(template, lines))
            for section, sentence, cited in parse_output(text, template, valid):
                if sentence in seen[section]:
                    continue
                seen[section].add(sentence)
                grounded = self.guard.ground(sentence, segments, cited)
                if grounded.supported:
                    supported += 1
                else:
                    unsupported += 1
                drafted[section].append(grounded)
            logger.debug("chunk %d of %d: %d lines", k + 1, len(chunks), len(lines))
            if progress is not None:
                progress(k + 1, len(chunks))
        logger.debug("drafted %d sentences (%d unsupported)", supported + unsupported, unsupported)
        return Note(
            template=template.id,
            title=template.title,
            loinc=template.loinc,
            sections=tuple(
                NoteSection(
                    id=s.id, title=s.title, sentences=tuple(drafted[s.id]), loinc=s.loinc, empty_text=s.empty_text
                )
                for s in template.sections
            ),
            status="preliminary",
            instructions=(),
        )


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
