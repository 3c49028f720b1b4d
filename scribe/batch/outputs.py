"""Output writers: one function per file format, each from typed results to a path.

Formats: the transcript as JSON (``write_transcript_json``; ``Transcript.from_dict``
reads it back), who-spoke-when as RTTM, captions as WebVTT, the note as markdown
(rendered by ``scribe.notes.render``), the note for machines as JSON (``write_note_json``;
``Note.from_dict`` reads it back) and FHIR resources as JSON. Times in every format
are seconds from the start of the recording.

Every file is written atomically through ``scribe.batch.files.write_atomic`` (owner-only,
fsynced, then renamed), so a crash or a full disk leaves either the previous file or the
new one. Writers raise ``OSError``; ``scribe.batch.files.write_all`` turns that into an
``OutputError`` for a visit's whole set of files.

Logs name paths and counts only; transcript and note text never reach a log.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyannote.core import Annotation

from scribe.batch.files import write_atomic, write_bytes, write_text
from scribe.notes.render import render_note_markdown
from scribe.types import ModelInfo, Note, Role, Segment, Transcript

__all__ = [
    "TRANSLATION_CLASS", "read_rttm", "rttm_uri", "vtt_timestamp", "write_bytes", "write_fhir", "write_note_json", "write_note_markdown",
    "write_rttm", "write_text", "write_transcript_json", "write_webvtt",
]

logger = logging.getLogger("scribe.batch.outputs")


def _version() -> str:
    import scribe

    return getattr(scribe, "__version__", "0.1.0")


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
    out = write_atomic(path, _json_bytes(doc))
    logger.info("transcript: %s (%d segment(s))", out, len(transcript.segments))
    return out


# --- RTTM -------------------------------------------------------------------------------


def rttm_uri(uri: str) -> str:
    """RTTM fields are whitespace-separated, so a file name with spaces is joined by '_'."""
    return re.sub(r"\s+", "_", uri.strip()) or "unknown"


def write_rttm(
    transcript: Transcript, path: str | os.PathLike, *, uri: str, annotation: Annotation | None = None
) -> Path:
    """Who spoke when, one SPEAKER line per turn.

    With ``annotation`` (a recorded or live visit: the diarizer's turns,
    ``VisitResult.annotation``) the lines are its turns, overlapping ones included, so
    speech without recognised words (a backchannel, an overlap, the pause between two
    words) is in it. Without (``scribe draft``: a transcript file has no diarization),
    one line per segment that has a speaker. Turns of zero length are left out."""
    name = rttm_uri(uri)
    if annotation is not None:
        turns = [(seg.start, seg.end, str(label)) for seg, _, label in annotation.itertracks(yield_label=True)]
    else:
        turns = [(seg.start, seg.end, seg.speaker) for seg in transcript.segments if seg.speaker is not None]
    lines = []
    for start, end, speaker in sorted(turns):
        dur = end - start
        # Zero-length turns carry no speech time and some scorers reject them.
        if round(dur, 3) <= 0:
            continue
        lines.append(f"SPEAKER {name} 1 {start:.3f} {dur:.3f} <NA> <NA> {rttm_uri(speaker)} <NA> <NA>\n")
    out = write_atomic(path, "".join(lines).encode("utf-8"))
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


# A cue's translation is a second line of the cue in a class span, so a reader (ours:
# scribe.batch.readers) tells it from the words said and a player can style it
# (::cue(.translation)).
TRANSLATION_CLASS = "translation"


def _multilingual(transcript: Transcript) -> bool:
    """Whether the captions name each cue's language: the visit was not all in the note
    language (a visit said and noted in one language keeps plain cues, as before)."""
    return any(transcript.language_of(s) != transcript.note_language for s in transcript.segments if s.words or s.language)


def write_webvtt(transcript: Transcript, path: str | os.PathLike) -> Path:
    """Captions with a voice span per cue (``<v Clinician (SPEAKER_00)>``); the cue id is
    the segment id, so a note's evidence refs can be found in a player.

    A visit not all in the note language: each cue's words in a WebVTT cue language span
    (``<lang es>...</lang>``: W3C WebVTT, "WebVTT cue language span", the cue's text in
    that BCP 47 language, which players and screen readers use to pick the voice and
    hyphenation), and a segment's translation as the cue's second line, itself in a
    language span of the note language inside a ``translation`` class span::

        s3
        00:00:07.200 --> 00:00:09.000
        <v Patient (SPEAKER_01)><lang es>Me duele la cabeza.</lang>
        <c.translation><lang en>My head hurts.</lang></c>

    The voice span runs to the end of the cue (WebVTT lets ``<v>`` go unclosed), so both
    lines are the speaker's; the original comes first, as said."""
    tagged = _multilingual(transcript)
    cues = []
    for seg in sorted(transcript.segments, key=lambda s: s.start):
        start_ms = max(0, int(round(seg.start * 1000)))
        # WebVTT requires end > start; a zero-length segment still has words worth showing.
        end_ms = max(int(round(seg.end * 1000)), start_ms + 1)
        voice = _voice(seg)
        text = _vtt_escape(seg.text)
        if tagged and (seg.words or seg.language):
            text = f"<lang {transcript.language_of(seg)}>{text}</lang>"
        if seg.translation:
            text += (f"\n<c.{TRANSLATION_CLASS}><lang {transcript.note_language}>"
                     f"{_vtt_escape(seg.translation)}</lang></c>")
        if voice:
            text = f"<v {_vtt_escape(voice)}>{text}"
        cues.append(f"{seg.id}\n{vtt_timestamp(start_ms / 1000)} --> {vtt_timestamp(end_ms / 1000)}\n{text}\n")
    body = "WEBVTT\n\n" + "\n".join(cues)
    out = write_atomic(path, body.encode("utf-8"))
    logger.info("webvtt: %s (%d cue(s))", out, len(cues))
    return out


# --- note -------------------------------------------------------------------------------


def write_note_markdown(
    note: Note,
    transcript: Transcript,
    path: str | os.PathLike,
    *,
    uri: str,
    options_dict: dict[str, Any],
    models: Sequence[ModelInfo],
) -> Path:
    """The draft note as review markdown (``scribe.notes.render.render_note_markdown``),
    written atomically to ``path``. Returns ``path``; raises ``OSError``."""
    markdown = render_note_markdown(note, transcript, uri=uri, options_dict=options_dict, models=models)
    out = write_text(markdown, path)
    logger.info("note: %s (%d sentence(s))", out, len(note.sentences()))
    return out


def write_note_json(note: Note, path: str | os.PathLike) -> Path:
    """The note for machines, ``NAME.note.json``: ``Note.to_dict()`` (sections, sentences
    and their evidence ids, the patient instructions, the omission list, the drafter's
    name and version); ``Note.from_dict`` reads it back. Holds only what the note holds."""
    out = write_atomic(path, _json_bytes(note.to_dict()))
    logger.info("note json: %s (%d sentence(s), %d omission(s))", out, len(note.sentences()), len(note.omissions))
    return out


# --- FHIR -------------------------------------------------------------------------------


def write_fhir(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """A FHIR resource as JSON. NaN/Infinity are refused: they are not JSON and no FHIR
    server accepts them."""
    data = (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    out = write_atomic(path, data)
    logger.info("fhir: %s (%s)", out, doc.get("resourceType", "?"))
    return out
