"""Output writers: one function per file format, each from typed results to a path.

Every file is written atomically (a temporary file in the target folder, fsynced, then
``os.replace``), so a crash or a full disk leaves either the previous file or the new
one, never half a transcript. Temporary files are created owner-only and the result
keeps that mode: these files hold patient speech.

Logs name paths and counts only; transcript and note text never reach a log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyannote.core import Annotation

from privacy.paths import fsync_dir
from scribe.types import ModelInfo, Note, Role, Segment, Transcript

logger = logging.getLogger("scribe.batch.outputs")

DRAFT_NOTICE = "AI-generated DRAFT for clinician review: verify every statement against the recording before signing."
NO_SPEECH = "Nothing was captured: no speech was detected in this recording."
NOTHING_ROUTED = (
    "Nothing was captured: the recording had speech, but none of it matched a section of "
    "this note template. See the transcript."
)
# Used when we do not know whether the recording had speech (no transcript at hand).
NOTHING_DRAFTED = "Nothing was captured: the draft note is empty. See the transcript."


def _version() -> str:
    import scribe

    return getattr(scribe, "__version__", "0.1.0")


# --- atomic writing ---------------------------------------------------------------------


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    return _atomic_write(path, text.encode("utf-8"))


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically, owner-only like every result."""
    return _atomic_write(path, data)


def _atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            # Data must be on disk before the rename, or a power cut can leave the new
            # name pointing at an empty file.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    logger.debug("wrote %s (%d bytes)", path, len(data))
    return path


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- transcript JSON --------------------------------------------------------------------


def write_transcript_json(
    transcript: Transcript,
    path: str | os.PathLike,
    *,
    uri: str,
    options_dict: dict[str, Any],
    models: Sequence[ModelInfo],
) -> Path:
    """The transcript with what produced it; ``Transcript.from_dict`` reads it back."""
    doc = {
        "uri": uri,
        "scribe_version": _version(),
        "options": options_dict,
        "models": [asdict(m) for m in models],
        **transcript.to_dict(),
    }
    out = _atomic_write(path, _json_bytes(doc))
    logger.info("transcript: %s (%d segment(s))", out, len(transcript.segments))
    return out


# --- RTTM -------------------------------------------------------------------------------


def rttm_uri(uri: str) -> str:
    """RTTM fields are whitespace-separated, so a file name with spaces is joined by '_'."""
    return re.sub(r"\s+", "_", uri.strip()) or "unknown"


def write_rttm(transcript: Transcript, path: str | os.PathLike, *, uri: str) -> Path:
    """Who spoke when, one SPEAKER line per segment that has a speaker and a duration."""
    name = rttm_uri(uri)
    lines = []
    for seg in sorted(transcript.segments, key=lambda s: (s.start, s.end)):
        dur = seg.end - seg.start
        # Zero-length turns carry no speech time and some scorers reject them.
        if seg.speaker is None or round(dur, 3) <= 0:
            continue
        speaker = rttm_uri(seg.speaker)
        lines.append(f"SPEAKER {name} 1 {seg.start:.3f} {dur:.3f} <NA> <NA> {speaker} <NA> <NA>\n")
    out = _atomic_write(path, "".join(lines).encode("utf-8"))
    logger.info("rttm: %s (%d turn(s))", out, len(lines))
    return out


def read_rttm(path: str | os.PathLike) -> dict[str, Annotation]:
    """RTTM file -> {uri: Annotation}. The same parser the scorers use, so a written file
    is read back exactly as the benchmarks would read it."""
    from scribe.scoring import load_rttm

    return load_rttm(path)


# --- WebVTT -----------------------------------------------------------------------------


def vtt_timestamp(seconds: float) -> str:
    """HH:MM:SS.mmm (hours grow past two digits for very long recordings)."""
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_escape(text: str) -> str:
    # A newline would split the cue (a blank line ends it), so text is kept on one line.
    text = " ".join(text.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _voice(seg: Segment) -> str | None:
    role = seg.role.value.capitalize() if seg.role != Role.UNKNOWN else None
    if role and seg.speaker:
        return f"{role} ({seg.speaker})"
    return role or seg.speaker


def write_webvtt(transcript: Transcript, path: str | os.PathLike) -> Path:
    """Captions with a voice span per cue (``<v Clinician (SPEAKER_00)>``); the cue id is
    the segment id, so a note's evidence refs can be found in a player."""
    cues = []
    for seg in sorted(transcript.segments, key=lambda s: s.start):
        start_ms = max(0, int(round(seg.start * 1000)))
        # WebVTT requires end > start; a zero-length segment still has words worth showing.
        end_ms = max(int(round(seg.end * 1000)), start_ms + 1)
        voice = _voice(seg)
        text = _vtt_escape(seg.text)
        if voice:
            text = f"<v {_vtt_escape(voice)}>{text}"
        cues.append(f"{seg.id}\n{vtt_timestamp(start_ms / 1000)} --> {vtt_timestamp(end_ms / 1000)}\n{text}\n")
    body = "WEBVTT\n\n" + "\n".join(cues)
    out = _atomic_write(path, body.encode("utf-8"))
    logger.info("webvtt: %s (%d cue(s))", out, len(cues))
    return out


# --- note -------------------------------------------------------------------------------


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
    """The draft note as markdown; each sentence cites its transcript segments as
    ``[s3 00:12]`` (segment id, start time). ``transcript_kept`` says whether the
    transcript files exist to follow the references into (not in privacy mode)."""
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


def write_note_markdown(
    note: Note,
    transcript: Transcript,
    path: str | os.PathLike,
    *,
    uri: str,
    options_dict: dict[str, Any],
    models: Sequence[ModelInfo],
) -> Path:
    markdown = render_note_markdown(note, transcript, uri=uri, options_dict=options_dict, models=models)
    out = write_text(markdown, path)
    logger.info("note: %s (%d sentence(s))", out, len(note.sentences()))
    return out


def render_note_text(note: Note, *, transcript: Transcript | None = None) -> str:
    """The note as plain text, for an EHR that shows text/plain. Evidence refs are left
    out: they point into a transcript the EHR does not have."""
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


# --- FHIR -------------------------------------------------------------------------------


def write_fhir(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """A FHIR resource as JSON. NaN/Infinity are refused: they are not JSON and no FHIR
    server accepts them."""
    data = (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    out = _atomic_write(path, data)
    logger.info("fhir: %s (%s)", out, doc.get("resourceType", "?"))
    return out
