"""The ``llm`` drafter: a causal language model (any ``transformers`` save_pretrained folder
with a causal-LM architecture, or one GGUF file) drafts the note from the role-labelled
transcript.

Steps:

1. **Prompt.** The template's sections (id and title) and the transcript as lines
   ``[s3] CLINICIAN: text``, so the model can cite segment ids; the model is asked for
   one line per sentence, ``SECTION_ID: sentence [s1, s4]``. The tokenizer's chat
   template is used when it has one, else a plain prompt with one worked example (a base
   model continues text; see ``_plain_prompt``). Decoding is greedy, stopped early at a
   loop, a run of blank lines or lines that are not note lines (``stop_reason``).
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

Loads from a local folder or ``.gguf`` file only (``local_files_only``); nothing is
downloaded. A GGUF file's header and extent are checked first (``scribe.notes.hf.read_gguf``)
and transformers de-quantizes its weights (the ``gguf`` and ``accelerate`` packages). Runs
where ``note_device`` / ``note_dtype`` say (``scribe.notes.hf.placement``). Registered as
``"llm"`` in ``scribe.notes.DRAFTERS``; ``--note-model PATH`` names the folder or file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribe.notes.base import DraftProgress
from scribe.notes.guard import GroundingGuard
from scribe.notes.hf import (
    ModelLoadError,
    Placement,
    first_line,
    model_folder,
    placement,
    quiet_transformers,
    read_gguf,
)
from scribe.notes.templates import Template
from scribe.options import ScribeOptions
from scribe.types import Note, NoteSection, NoteSentence, Role, Segment, Transcript

logger = logging.getLogger("scribe.notes.llm")

VERSION = "0.1.0"


@dataclass(frozen=True)
class LlmParams:
    """Generation settings of the ``llm`` drafter.

    ``max_new_tokens``: the generation budget per chunk, at most half the context; it is
    reserved out of the context when the transcript is chunked. 1,024: ACI-BENCH valid's
    reference notes are 650 tokens at the median (1,055 the longest) with Gemma 3's
    tokenizer, and the line format adds a label and citations to each sentence (the
    embedded drafter's notes of the 15-minute visit below: 339 tokens for soap, 490 for
    hp, about 1.7 times their words); 512 would cut a full note short. ``margin``: tokens kept
    free beyond it, for the tokenizer's end-of-prompt tokens and rounding.
    ``max_context``: the most context one chunk uses, whatever the model allows
    (gemma3-270m: 32,768; Llama 3.1: 131,072). 8,192 tokens hold a 15-minute visit in one
    chunk (the 900 s visit of ``benchmarks/model_drafters.py``, 182 lines and 2,095 words, is
    4,800 prompt tokens with Gemma 3's tokenizer, measured) and bound the key/value cache: an 8B model
    with 32 layers and 8 key/value heads of 128 dimensions keeps 128 KiB a token in
    bfloat16, 1 GiB at 8,192 tokens against 16 GiB at 131,072.

    Generation is greedy (deterministic) and stops before the budget (``stop_reason``) at
    the model's end-of-sequence token, after ``blank_lines`` blank lines in a row (the note
    has ended), at a line that repeats an earlier one (a loop: gemma3-270m, a base model,
    measured here on samples/cough_visit, wrote "I'm going to take a look at your lungs."
    14 times until the budget ran out), or after ``off_format`` lines in a row that are not
    note lines (the model is writing something else, such as more transcript). The
    repetition guard is that stop, not ``repetition_penalty`` or ``no_repeat_ngram_size``:
    in transformers both act on the prompt's tokens too (the transcript, which a grounded
    note must repeat) and on the section labels every note line repeats.
    """

    max_new_tokens: int = 1024
    margin: int = 8
    max_context: int = 8192
    blank_lines: int = 2
    off_format: int = 4


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


def _example(template: Template) -> str:
    """The worked example of a plain prompt (see ``_plain_prompt``)."""
    ids = [s.id for s in template.sections] or ["note"]
    return (
        "Transcript:\n"
        "[e1] PATIENT: The rash on my left forearm has itched for three days.\n"
        "[e2] CLINICIAN: This is contact dermatitis. Use hydrocortisone 1% cream twice a day.\n\n"
        "Note:\n"
        f"{ids[0]}: Itchy rash on the left forearm for three days. [e1]\n"
        f"{ids[-1]}: Hydrocortisone 1% cream twice a day. [e2]\n"
    )


def _plain_prompt(template: Template, lines: Sequence[str], example: bool = True) -> str:
    """The prompt of a model without a chat template (a base model, which continues text
    rather than following an instruction): the instruction, the sections on one line (a
    block of ``id: title`` lines is what such a model copied as its "note", measured with
    gemma3-270m), one worked example when ``example`` (one-shot prompting: Brown et al.
    2020, "Language Models are Few-Shot Learners") under the same ``Transcript:`` /
    ``Note:`` headings as the visit (with other headings gemma3-270m went on writing
    transcript lines), then the transcript and ``Note:``.

    The example's facts are deliberately specific (a side, a dose, a drug) and its ids
    are ``e1``/``e2``, not the transcript's: a model that parrots the example writes a
    number, a drug and a side the visit did not say, and cites no real line, so the
    grounding guard flags every copied sentence (gemma3-270m does copy from it)."""
    sections = ", ".join(f"{s.id} ({s.title})" for s in template.sections)
    shown = _example(template) + "\n" if example else ""
    return (
        f"{_instruction(template)}\nNote sections: {sections}.\n\n{shown}"
        "Transcript:\n" + "\n".join(lines) + "\n\nNote:\n"
    )


def _section_keys(template: Template) -> dict[str, str]:
    """Lower-cased section ids and titles -> section id."""
    by_key: dict[str, str] = {}
    for s in template.sections:
        by_key[s.id.lower()] = s.id
        by_key.setdefault(s.title.lower(), s.id)
    return by_key


def _note_section(line: str, by_key: dict[str, str]) -> tuple[str, str] | None:
    """(section id, the text after its label) when ``line`` is a note line, else None."""
    m = _LINE.match(line)
    if not m:
        return None
    label = m.group(1).strip().lower()
    section = by_key.get(label.replace(" ", "_")) or by_key.get(label)
    return (section, m.group(2)) if section is not None else None


_TAG = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*(?:[A-Za-z][\w ]{0,30}:)?")


def _line_body(line: str) -> str:
    """A line's words without its leading ``[id]`` tags, label and citations, lower-cased:
    what makes two lines the same line for the loop check."""
    text = _TAG.sub(" ", _CITATION.sub(" ", line), count=1)
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def stop_reason(text: str, params: "LlmParams") -> str | None:
    """Why generation should stop after ``text`` (the output so far), or None. Only
    complete lines are judged (the last, unfinished one is not): ``blank_lines`` blank
    lines in a row after some text, a line whose words repeat an earlier line's (labels,
    ids and citations aside), or ``off_format`` lines in a row not shaped as note lines
    (``LABEL: words``; a transcript line ``[s3] CLINICIAN: ...`` is not one)."""
    blanks = off = 0
    started = False
    seen: set[str] = set()
    for line in text.split("\n")[:-1]:
        if not line.strip():
            blanks += started
            if blanks >= params.blank_lines:
                return "blank lines"
            continue
        started, blanks = True, 0
        body = _line_body(line)
        if body and body in seen:
            return "repeated line"
        seen.add(body)
        m = _LINE.match(line)
        off = 0 if m and re.search(r"[A-Za-z]", _CITATION.sub(" ", m.group(2))) else off + 1
        if off >= params.off_format:
            return "not note lines"
    return None


def parse_output(text: str, template: Template, valid_ids: set[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The model's output as (section id, sentence, cited ids) in order. A line whose label
    is neither a section id nor a section title of ``template`` is ignored; cited ids not
    in ``valid_ids`` are dropped; citations are removed from the sentence."""
    by_key = _section_keys(template)
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for raw in text.splitlines():
        found = _note_section(raw, by_key)
        if found is None:
            continue
        section, body = found
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
                 guard: GroundingGuard = GroundingGuard(), placement: Placement = Placement("cpu", "float32")):
        self.model = model
        self.tokenizer = tokenizer
        self.params = params
        self.path = path
        self.guard = guard
        self.placement = placement
        model_type = getattr(getattr(model, "config", None), "model_type", None) or "model"
        self.version = f"{VERSION}+{model_type}:{Path(path).name if path else 'memory'}"

    # -- loading -------------------------------------------------------------------
    @classmethod
    def from_options(cls, options: ScribeOptions) -> "LlmDrafter":
        """The model ``options.note_model`` (a folder or a ``.gguf`` file), placed by
        ``options.note_device`` / ``note_dtype``; ``LlmParams`` defaults otherwise."""
        if not options.note_model:
            raise ModelLoadError("--drafter llm needs --note-model PATH or [note] model in the config (a transformers model folder or a .gguf file)")
        return cls.load(options.note_model, placement=placement(options.note_device, options.note_dtype))

    @classmethod
    def load(cls, path: str | Path, params: LlmParams = LlmParams(), placement: Placement | None = None) -> "LlmDrafter":
        """Tokenizer and causal LM from a local ``save_pretrained`` folder, or from one
        ``.gguf`` file (transformers de-quantizes its weights to ``placement.dtype``; the
        tokenizer is read from the same file). ``placement``: where it runs (default: cpu,
        float32). Raises ``ModelLoadError`` (one line: the path and the reason)."""
        started = time.perf_counter()
        place = placement or Placement("cpu", "float32")
        given = Path(path).expanduser()
        gguf: dict[str, str] = {}
        if given.is_file() or (given.suffix.lower() == ".gguf" and not given.is_dir()):
            info = read_gguf(given)  # a file must be GGUF: checked before transformers reads it
            folder, gguf = given.parent, {"gguf_file": given.name}
            what = f"GGUF architecture {info.architecture}"
        else:
            folder = model_folder(given)
            what = "model configuration"
        where = given if gguf else folder
        try:
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - a dependency
            raise ModelLoadError(f"{where}: transformers is not installed ({e})") from None
        quiet_transformers()  # one line per problem on stderr, no bars
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True, **gguf)
        except Exception as e:  # ValueError, KeyError, OSError, a JSON error in config.json, ...
            raise ModelLoadError(f"{where}: unsupported {what} ({first_line(e)})") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **gguf)
        except Exception as e:  # ValueError, KeyError, OSError, TypeError, a damaged tokenizer.json
            raise ModelLoadError(f"{where}: cannot load the tokenizer ({first_line(e)})") from None
        try:
            # transformers' GGUF de-quantization draws a tqdm bar that ignores
            # disable_progress_bar: it goes nowhere, so stderr keeps one line per problem.
            with contextlib.redirect_stderr(io.StringIO()) if gguf else contextlib.nullcontext():
                model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=place.torch_dtype(), **gguf)
        except ValueError as e:
            arch = ", ".join(getattr(config, "architectures", None) or [getattr(config, "model_type", "?")])
            raise ModelLoadError(f"{where}: unsupported architecture {arch} for a causal LM ({first_line(e)})") from None
        except (OSError, RuntimeError) as e:
            raise ModelLoadError(f"{where}: cannot load the model weights ({first_line(e)})") from None
        except MemoryError:
            raise ModelLoadError(f"{where}: out of memory loading the model") from None
        except Exception as e:  # e.g. safetensors' SafetensorError for a damaged weights file
            raise ModelLoadError(f"{where}: cannot load the model weights ({type(e).__name__}: {first_line(e)})") from None
        model.to(place.device)
        model.eval()
        logger.info("loaded note model %s (%s, %.0f M parameters, %s %s) in %.1f s", Path(str(where)).name,
                    getattr(config, "model_type", "?"), sum(p.numel() for p in model.parameters()) / 1e6,
                    place.device, place.dtype, time.perf_counter() - started)
        return cls(model, tokenizer, params, str(where), placement=place)

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
        return _plain_prompt(template, lines, example=self._example_fits(template))

    def _example_fits(self, template: Template) -> bool:
        """The plain prompt's worked example is shown when it costs at most a quarter of
        the chunk budget (always, for a model with a context of thousands of tokens; a
        tiny test model's context is kept for the transcript)."""
        cost = len(self.tokenizer(_example(template), add_special_tokens=False)["input_ids"])
        return cost * 4 <= self.context_budget()

    def _encode(self, prompt: str) -> list[int]:
        chat = bool(getattr(self.tokenizer, "chat_template", None))
        return list(self.tokenizer(prompt, add_special_tokens=not chat)["input_ids"])

    def context_budget(self) -> int:
        """Prompt tokens a chunk may use: the model's context minus the generation budget
        and the margin."""
        return self._context() - self.new_tokens() - self.params.margin

    def _context(self) -> int:
        """The context a chunk uses: the model's (``max_position_embeddings``, 2048 when
        it names none), at most ``LlmParams.max_context``."""
        config = self.model.config
        # A multimodal model (an audio-LLM drafting from text) keeps it on its text config.
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        positions = getattr(config, "max_position_embeddings", None) or getattr(text, "max_position_embeddings", None)
        return min(int(positions or 2048), self.params.max_context)

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
        """Greedy continuation of ``prompt``, decoded: at most ``new_tokens()``, stopped
        early at the end-of-sequence token or where ``stop_reason`` says so."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        ids = self._encode(prompt)
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.model.device)
        attention = torch.ones_like(input_ids)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        tokenizer, params, reasons = self.tokenizer, self.params, []

        class NoteStop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ARG002 - transformers' signature
                done = False
                if "\n" in tokenizer.decode(input_ids[0, -1:]):
                    reason = stop_reason(tokenizer.decode(input_ids[0, len(ids):], skip_special_tokens=True), params)
                    if reason:
                        reasons.append(reason)
                        done = True
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=self.new_tokens(),
                do_sample=False,
                pad_token_id=pad,
                stopping_criteria=StoppingCriteriaList([NoteStop()]),
            )
        new = out[0, len(ids):]
        logger.debug("generated %d tokens (%s)", len(new), reasons[0] if reasons else "end or budget")
        return self.tokenizer.decode(new, skip_special_tokens=True)

    # -- drafting ------------------------------------------------------------------
    def draft(self, transcript: Transcript, template: Template, *, progress: DraftProgress | None = None) -> Note:
        """The note from ``transcript``, chunk by chunk; ``progress(done, total)`` after
        each chunk. Sentences the guard does not support carry its flags."""
        started = time.perf_counter()
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
        logger.info("drafted %d sentences (%d unsupported) from %d chunks in %.1f s", supported + unsupported,
                    unsupported, len(chunks), time.perf_counter() - started)
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
