"""A note as people read it: the review markdown (with evidence references and the
omission check's list), the patient instructions' markdown, the plain text an EHR shows,
and the editable text the clinician signs.

Pure functions from typed results (``scribe.types.Note``, ``Transcript``) to ``str``;
nothing here writes a file (``scribe.batch.outputs`` does) or logs note text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from scribe.types import ModelInfo, Note, NoteSentence, Transcript

DRAFT_NOTICE = "AI-generated DRAFT for clinician review: verify every statement against the recording before signing."
NO_SPEECH = "Nothing was captured: no speech was detected in this recording."
NOTHING_ROUTED = (
    "Nothing was captured: the recording had speech, but none of it matched a section of "
    "this note template. See the transcript."
)
# Used when we do not know whether the recording had speech (no transcript at hand).
NOTHING_DRAFTED = "Nothing was captured: the draft note is empty. See the transcript."
OMISSIONS_HEADING = "Possibly missing from this note (said in the visit, not in the note)"
# How a sentence the grounding guard flagged is marked: in the review markdown (with the
# guard's reasons) and at the head of its line in the editable text. At signing, a line
# still marked is left out (``drop_unsupported``): accepting a sentence removes the mark.
UNSUPPORTED_MARK = "[UNSUPPORTED]"
UNSUPPORTED_NOTICE = (
    "{n} sentence(s) marked UNSUPPORTED: the model wrote them, the transcript does not "
    "support them. Accept (remove the mark) or delete each before signing; marked "
    "sentences are left out of the exported note."
)
TRANSLATED_NOTICE = (
    "Parts of this visit were held in another language (language code {languages}): the note, "
    "in {note}, is drafted from the speech model's machine translation of them. References "
    "marked \"translated from\" rest on a translation: check them against what was said."
)
UNTRANSLATED_NOTICE = (
    "{n} line(s) said in another language could not be translated with confidence and are "
    "not in this note: {refs}. Check them against what was said."
)
LEFT_OUT_NOTICE = (
    "{n} sentence(s) of the model's draft were left out of this document: the transcript "
    "does not support them, and no clinician has kept them."
)
INSTRUCTIONS_NOTICE = (
    "AI-generated DRAFT of the patient's after-visit instructions, for clinician review: "
    "verify every statement against the visit before giving them to the patient."
)


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
    drafted_from: str | None = None,
    left_out: int = 0,
) -> str:
    """The draft note as markdown for review.

    Each sentence cites its transcript segments as ``[s3 00:12]`` (segment id, start time
    as MM:SS, or H:MM:SS past an hour). The header names the draft status, the template,
    ``uri`` (the recording's output name), each model in ``models`` and the top-level
    scalar settings of ``options_dict`` (``ScribeOptions.to_dict()``).
    ``transcript_kept`` says whether the transcript files exist to follow the references
    into (not in privacy mode). ``drafted_from`` names the transcript file a note was
    drafted from (``scribe draft``), in place of the recording. An empty note says why it
    is empty (no speech, or speech that no section of the template took). The omission
    check's findings (``note.omissions``), if any, follow the sections under
    ``OMISSIONS_HEADING``, each with its kind, the words and its evidence. ``left_out``:
    flagged sentences already taken out of ``note`` (the FHIR document's copy,
    ``Note.supported_only``), said in ``LEFT_OUT_NOTICE``. Returns ``\\n``-separated text.
    """
    starts = {s.id: s.start for s in transcript.segments}
    translated = {s.id: s.language for s in transcript.segments if s.translation and s.language}
    lines = [
        f"# {_md_escape(note.title)}",
        "",
        f"> **{DRAFT_NOTICE}**",
        ">",
        f"> Status: {note.status}. Template: {note.template}. {_source(uri, drafted_from)}.",
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

    if left_out:
        lines += [f"> **{LEFT_OUT_NOTICE.format(n=left_out)}**", ""]
    untranslated = [
        s.id for s in transcript.segments
        if s.words and transcript.language_of(s) != note.language and not s.translation
    ]
    if translated or untranslated:
        held = ", ".join(sorted({*translated.values(), *(transcript.language_of(s) for s in transcript.segments
                                                        if s.id in untranslated)}))
        lines += [f"> **{TRANSLATED_NOTICE.format(languages=held, note=note.language)}**", ""]
    if untranslated:
        refs = _refs(untranslated, starts)
        lines += [f"> **{UNTRANSLATED_NOTICE.format(n=len(untranslated), refs=refs)}**", ""]
    if note.is_empty and not left_out:
        lines += [f"**{_empty_message(transcript)}**", ""]
    elif not note.is_empty:
        for sec in note.sections:
            lines += [f"## {_md_escape(sec.title)}", ""]
            if not sec.sentences:
                lines.append(f"_{_md_escape(sec.empty_text)}_")
            for sent in sec.sentences:
                lines.append(f"- {_flag(sent)}{_md_escape(sent.text)} {_refs(sent.evidence, starts, translated)}")
            lines.append("")
    flagged = note.counts().unsupported
    if flagged:
        lines += [f"> **{UNSUPPORTED_NOTICE.format(n=flagged)}**", ""]
    lines += _omission_lines(note, starts)
    if not note.is_empty:
        lines += _references_footer(uri, transcript_kept, "transcript lines", drafted_from)
    return "\n".join(lines)


def _source(uri: str, drafted_from: str | None) -> str:
    return f"Transcript: `{_code(drafted_from)}`" if drafted_from else f"Recording: `{_code(uri)}`"


def _omission_lines(note: Note, starts: dict[str, float]) -> list[str]:
    # Said nothing when the check found nothing: "nothing missing" would be a promise the
    # check cannot make.
    if not note.omissions:
        return []
    lines = ["---", "", f"### {OMISSIONS_HEADING}", ""]
    lines += [f"- {_md_escape(o.kind)}: {_md_escape(o.text)} {_refs(o.evidence, starts)}" for o in note.omissions]
    return lines + [""]


def _references_footer(uri: str, transcript_kept: bool, what: str, drafted_from: str | None) -> list[str]:
    if transcript_kept:
        where = f"in `{_code(uri)}.transcript.json` and `{_code(uri)}.vtt`"
    elif drafted_from:
        where = f"in `{_code(drafted_from)}`, the transcript this was drafted from (s0 is its first line)"
    else:
        where = "in the recording; privacy mode kept no transcript"
    return [
        "---",
        "",
        f"_References such as [s3 00:12] point to {what} (segment id, start time) {where}._",
        "",
    ]


def render_instructions_markdown(
    note: Note,
    transcript: Transcript,
    *,
    uri: str,
    transcript_kept: bool = True,
    drafted_from: str | None = None,
) -> str:
    """The patient instructions (``note.instructions``, the after-visit summary) as
    markdown for review before they are given to the patient.

    A draft notice, the status and ``uri`` (or ``drafted_from``), then under the section's heading (``Your
    instructions``) one bullet per instruction ending in its
    evidence as the note's do (``[s3 00:12]``), and the footer saying where the
    references point (``transcript_kept`` as in ``render_note_markdown``). Written only
    when there are instructions; without any it says none were drafted. Returns
    ``\\n``-separated text."""
    doc = note.instructions_note()
    starts = {s.id: s.start for s in transcript.segments}
    lines = [
        f"# {_md_escape(doc.title)}",
        "",
        f"> **{INSTRUCTIONS_NOTICE}**",
        ">",
        f"> Status: {note.status}. {_source(uri, drafted_from)}.",
        "",
    ]
    section = doc.sections[0]
    # A "## " heading as the note has, so the FHIR document (scribe.fhir.bundle) reads
    # the same sections from both.
    lines += [f"## {_md_escape(section.title)}", ""]
    if doc.is_empty:
        return "\n".join(lines + [f"_{_md_escape(section.empty_text)}_", ""])
    lines += [f"- {_flag(s)}{_md_escape(s.text)} {_refs(s.evidence, starts)}" for s in section.sentences]
    lines.append("")
    lines += _references_footer(uri, transcript_kept, "what was said in the visit", drafted_from)
    return "\n".join(lines)


def _flag(sentence: NoteSentence) -> str:
    """The review markdown's mark on a flagged sentence, with the guard's reasons."""
    if sentence.supported:
        return ""
    return f"**{UNSUPPORTED_MARK}** _({_md_escape('; '.join(sentence.flags))})_ "


def _refs(evidence: Sequence[str], starts: dict[str, float], translated: dict[str, str] | None = None) -> str:
    """``[s3 00:12, s4 00:15 translated from es]``: each segment id with its start; a
    segment the note read in translation (``translated``: id -> language said) says so."""
    if not evidence:
        # Should not happen (the drafter cites every sentence); said loudly if it does.
        return "[no evidence]"
    translated = translated or {}
    refs = [
        (f"{e} {_clock(starts[e])}" if e in starts else e) + (f" translated from {translated[e]}" if e in translated else "")
        for e in evidence
    ]
    return "[" + ", ".join(refs) + "]"


def render_note_text(note: Note, *, transcript: Transcript | None = None) -> str:
    """The note as plain text, for an EHR that shows text/plain: title, draft notice,
    status, then each section's sentences. Evidence refs are left out: they point into
    a transcript the EHR does not have. ``transcript`` (optional) lets an empty note say
    whether the recording held speech at all. Sentences the grounding guard flagged are
    left out (``Note.supported_only``): this is the text that leaves for the EHR."""
    left_out = note.counts().unsupported
    note = note.supported_only()
    lines = [note.title, "=" * len(note.title), "", DRAFT_NOTICE, f"Status: {note.status}.", ""]
    if left_out:
        lines += [LEFT_OUT_NOTICE.format(n=left_out), ""]
    if note.is_empty:
        if not left_out:
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
    A sentence the grounding guard flagged starts with ``UNSUPPORTED_MARK`` until the
    clinician accepts it (removes the mark) or deletes the line; ``drop_unsupported``
    leaves still-marked lines out at signing. An empty note is ``""``; otherwise the
    text ends with one ``\\n``."""
    if note.is_empty:
        return ""
    lines: list[str] = []
    for sec in note.sections:
        lines += [f"## {sec.title}", ""]
        lines += [f"- {'' if s.supported else UNSUPPORTED_MARK + ' '}{' '.join(s.text.split())}"
                  for s in sec.sentences] or [sec.empty_text]
        lines.append("")
    return "\n".join(lines).strip() + "\n"


# The mark wherever it is on a line and however it is written: "- [UNSUPPORTED] ...",
# "1. [unsupported] ...", the review markdown's "- **[UNSUPPORTED]** ...", "- • [ UNSUPPORTED ]".
_MARK = re.compile(r"\[\s*unsupported\s*\]", re.IGNORECASE)
# What starts a new sentence or section after a marked line: a bullet, a number, a heading.
_NEW_ITEM = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)]|#{1,6}\s)")


def drop_unsupported(text: str) -> tuple[str, int]:
    """``text`` (the editable text as the clinician signs it) without the sentences still
    marked ``UNSUPPORTED_MARK``, and how many were left out. A line carrying the mark
    anywhere, in any case or markup, is left out, and so are the lines it wrapped onto
    (non-blank lines up to the next bullet, numbered item, heading or blank line). The
    clinician keeps a flagged sentence by removing its mark."""
    kept: list[str] = []
    dropped = 0
    in_marked = False
    for line in text.splitlines(keepends=True):
        if _MARK.search(line):
            dropped += 1
            in_marked = True
            continue
        if in_marked and line.strip() and not _NEW_ITEM.match(line):
            continue  # the marked sentence, wrapped onto this line
        in_marked = False
        kept.append(line)
    return "".join(kept), dropped
