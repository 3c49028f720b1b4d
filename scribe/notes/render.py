"""A note as people read it: the review markdown (with evidence references), the plain
text an EHR shows, and the editable text the clinician signs.

Pure functions from typed results (``scribe.types.Note``, ``Transcript``) to ``str``;
nothing here writes a file (``scribe.batch.outputs`` does) or logs note text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from scribe.types import ModelInfo, Note, Transcript

DRAFT_NOTICE = "AI-generated DRAFT for clinician review: verify every statement against the recording before signing."
NO_SPEECH = "Nothing was captured: no speech was detected in this recording."
NOTHING_ROUTED = (
    "Nothing was captured: the recording had speech, but none of it matched a section of "
    "this note template. See the transcript."
)
# Used when we do not know whether the recording had speech (no transcript at hand).
NOTHING_DRAFTED = "Nothing was captured: the draft note is empty. See the transcript."


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def _md_escape(text: str) -> str:
    # Transcript words must not turn into links, emphasis or HTML, nor be confused with
    # the [s3 00:12] evidence refs.
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _code(text: str) -> str:
    return text.replace("`", "'")


def _empty_message(transcript: Transcript | None) -> str:
    if transcript is None:
        return NOTHING_DRAFTED
    return NOTHING_ROUTED if transcript.segments else NO_SPEECH


def _model_line(m: ModelInfo) -> str:
    return f"{m.kind}: {m.name} ({m.version})"


def _settings(options_dict: dict[str, Any]) -> str:
    # Top-level scalars only; the nested VAD/diarization tuning is in the transcript JSON.
    parts = [
        f"{k}={v}"
        for k, v in options_dict.items()
        if v is not None and not isinstance(v, (dict, list, tuple))
    ]
    return ", ".join(parts)


def render_note_markdown(
    note: Note,
    transcript: Transcript,
    *,
    uri: str,
    options_dict: dict[str, Any],
    models: Sequence[ModelInfo],
    transcript_kept: bool = True,
) -> str:
    """The draft note as markdown for review.

    Each sentence cites its transcript segments as ``[s3 00:12]`` (segment id, start time
    as MM:SS, or H:MM:SS past an hour). The header names the draft status, the template,
    ``uri`` (the recording's output name), each model in ``models`` and the top-level
    scalar settings of ``options_dict`` (``ScribeOptions.to_dict()``).
    ``transcript_kept`` says whether the transcript files exist to follow the references
    into (not in privacy mode). An empty note says why it is empty (no speech, or speech
    that no section of the template took). Returns ``\\n``-separated text.
    """
    starts = {s.id: s.start for s in transcript.segments}
    lines = [
        f"# {_md_escape(note.title)}",
        "",
        f"> **{DRAFT_NOTICE}**",
        ">",
        f"> Status: {note.status}. Template: {note.template}. Recording: `{_code(uri)}`.",
        "",
        "Models:",
        "",
    ]
    lines += [f"- {_md_escape(_model_line(m))}" for m in models] or ["- (none recorded)"]
    settings = _settings(options_dict)
    if settings:
        # A code span shows the options verbatim, without markdown escapes.
        lines += ["", f"Settings: `{_code(settings)}`"]
    lines.append("")

    if note.is_empty:
        lines += [f"**{_empty_message(transcript)}**", ""]
    else:
        for sec in note.sections:
            lines += [f"## {_md_escape(sec.title)}", ""]
            if not sec.sentences:
                lines.append(f"_{_md_escape(sec.empty_text)}_")
            for sent in sec.sentences:
                lines.append(f"- {_md_escape(sent.text)} {_refs(sent.evidence, starts)}")
            lines.append("")
        if transcript_kept:
            where = f"in `{_code(uri)}.transcript.json` and `{_code(uri)}.vtt`"
        else:
            where = "in the recording; privacy mode kept no transcript"
        lines += [
            "---",
            "",
            f"_References such as [s3 00:12] point to transcript lines (segment id, start time) {where}._",
            "",
        ]
    return "\n".join(lines)


def _refs(evidence: Sequence[str], starts: dict[str, float]) -> str:
    if not evidence:
        # Should not happen (the drafter cites every sentence); said loudly if it does.
        return "[no evidence]"
    refs = [f"{e} {_clock(starts[e])}" if e in starts else e for e in evidence]
    return "[" + ", ".join(refs) + "]"


def render_note_text(note: Note, *, transcript: Transcript | None = None) -> str:
    """The note as plain text, for an EHR that shows text/plain: title, draft notice,
    status, then each section's sentences. Evidence refs are left out: they point into
    a transcript the EHR does not have. ``transcript`` (optional) lets an empty note say
    whether the recording held speech at all."""
    lines = [note.title, "=" * len(note.title), "", DRAFT_NOTICE, f"Status: {note.status}.", ""]
    if note.is_empty:
        lines += [_empty_message(transcript), ""]
    else:
        for sec in note.sections:
            lines.append(f"{sec.title}:")
            if not sec.sentences:
                lines.append(f"  {sec.empty_text}")
            lines += [f"  - {' '.join(s.text.split())}" for s in sec.sentences]
            lines.append("")
    return "\n".join(lines)


def editable_text(note: Note) -> str:
    """The note as the clinician edits and signs it: ``## Section`` headings and ``- ``
    sentences, without the draft notice and evidence references of the review view.
    An empty note is ``""``; otherwise the text ends with one ``\\n``."""
    if note.is_empty:
        return ""
    lines: list[str] = []
    for sec in note.sections:
        lines += [f"## {sec.title}", ""]
        lines += [f"- {' '.join(s.text.split())}" for s in sec.sentences] or [sec.empty_text]
        lines.append("")
    return "\n".join(lines).strip() + "\n"
