"""Transcripts from files: what ``scribe draft`` drafts a note from instead of audio.

Three formats, chosen by extension and checked against the content
(``read_transcript``):

- **Scribe's transcript JSON** (``NAME.transcript.json`` as ``scribe transcribe`` writes
  it, or any ``.json`` holding ``Transcript.to_dict()``): each segment read
  with ``Segment.from_dict`` and checked; speakers, roles, times, words, languages (each
  segment's ``language`` and ``translation``, the transcript's ``language`` and
  ``note_language``) kept as written.
- **WebVTT** (``.vtt``) with voice tags: ``<v SPEAKER_00>text</v>``, ``<v Dr Lee>``, or
  Scribe's own ``<v Clinician (SPEAKER_00)>`` (role and speaker). Cue times become the
  segments' start and end; cue ids are kept as segment ids when every cue has a distinct
  ``s<N>`` id (so Scribe's own captions round-trip), else segments are numbered s0, s1,
  ... A cue's language span (``<lang es>``) gives its segment's language, and Scribe's
  translation line (``<c.translation><lang en>...</lang></c>``) its translation into the
  note language. A file with no voice tag at all may carry its speakers as ``NAME: text`` at the
  start of each cue (as some meeting tools write them).
- **Plain text** (``.txt``): one turn a line, ``LABEL: text``, LABEL any speaker name
  (``SPEAKER_00``, ``Dr Lee``, ``patient``). See ``parse_text`` for the line rules.

Each speaker label that names a role (``Doctor``, ``Dr Lee``, ``Nurse``, ``Patient``,
``Mother``, ...) gives its segments that role (``role_from_label``); roles still open are
inferred afterwards (``scribe.batch.draft.assign_roles``).

Every problem is an ``InputError`` (exit code 2): one line naming the file and what is
wrong with it, never its content.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scribe.errors import InputError, listed, not_found
from scribe.options import is_language_code
from scribe.types import ModelInfo, Role, Segment, Transcript, Word

__all__ = [
    "FORMATS", "MAX_BYTES", "SECONDS_PER_WORD", "TRANSCRIPT_EXTENSIONS", "TranscriptFile",
    "parse_text", "parse_transcript_json", "parse_webvtt", "read_transcript", "role_from_label",
    "transcript_files", "transcript_stem",
]

TRANSCRIPT_EXTENSIONS = (".json", ".vtt", ".txt")
FORMATS = {".json": "transcript-json", ".vtt": "webvtt", ".txt": "text"}
# Scribe's own outputs that are not transcripts: skipped when a folder is expanded.
NOT_TRANSCRIPTS = (".note.json", ".fhir.json", ".transaction.json")
MAX_BYTES = 64 * 1024 * 1024  # a two-hour visit's transcript JSON, words and all, is a few MB
SECONDS_PER_WORD = 0.4  # plain text has no times: see parse_text
MIN_TURN_SECONDS = 0.5

# Label words that name a role. A label naming someone other than the patient wins over
# "patient" ("Patient's mother", ACI-BENCH's "patient_guest"); then clinician words.
OTHER_WORDS = frozenset({
    "mother", "mom", "mum", "father", "dad", "parent", "wife", "husband", "partner", "spouse",
    "son", "daughter", "sister", "brother", "child", "grandmother", "grandfather", "family",
    "relative", "friend", "companion", "caregiver", "carer", "guardian", "guest", "visitor",
    "interpreter", "translator", "other",
})
CLINICIAN_WORDS = frozenset({
    "doctor", "dr", "doc", "clinician", "physician", "nurse", "provider", "md", "np", "rn",
    "gp", "practitioner", "surgeon", "attending", "resident", "consultant", "therapist",
    "pharmacist", "midwife", "prof", "professor",
})
PATIENT_WORDS = frozenset({"patient", "pt", "client"})

_LABEL = re.compile(r"^([A-Za-z][A-Za-z0-9_.'()\- ]{0,39}?)\s*:\s+(.*)$")
_LABEL_ONLY = re.compile(r"^([A-Za-z][A-Za-z0-9_.'()\- ]{0,39}?)\s*:$")
_SEGMENT_ID = re.compile(r"^s\d+$")
_TIMING = re.compile(
    r"^((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})(?:\s+.*)?$"
)
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>")
_TAG = re.compile(r"</?[^>]*>")
# Scribe's captions of a visit in several languages (scribe.batch.outputs.write_webvtt):
# a cue's words in a cue language span, its translation in a "translation" class span.
_LANG = re.compile(r"<lang\s+([^>\s]+)\s*>")
_TRANSLATION = re.compile(r"<c\.translation(?:\.[^\s>]*)?(?:\s[^>]*)?>(.*?)</c>", re.DOTALL)
_SCRIBE_VOICE = re.compile(r"^(Clinician|Patient|Other|Unknown) \((.+)\)$")


@dataclass(frozen=True)
class TranscriptFile:
    """A transcript read from ``path``.

    ``format``: ``"transcript-json"``, ``"webvtt"`` or ``"text"``. ``transcript``: its
    segments, with the roles the file gives or its labels name (others ``UNKNOWN``).
    ``models``: what produced it, when the file says (Scribe's JSON names its speech,
    VAD and speaker models); empty otherwise."""

    path: Path
    format: str
    transcript: Transcript
    models: tuple[ModelInfo, ...] = ()


def role_from_label(label: str | None) -> Role | None:
    """The role a speaker label names, or None when it names none.

    The label is split into words (``Dr. Lee`` -> dr, lee; ``patient_guest`` -> patient,
    guest); a word for a relative, companion or interpreter gives ``OTHER``, else a
    clinician word (doctor, dr, nurse, provider, ...) ``CLINICIAN``, else ``patient``/``pt``
    ``PATIENT``. ``SPEAKER_00`` names no role."""
    if not label:
        return None
    words = set(re.split(r"[^a-z0-9]+", label.lower()))
    if words & OTHER_WORDS:
        return Role.OTHER
    if words & CLINICIAN_WORDS:
        return Role.CLINICIAN
    if words & PATIENT_WORDS:
        return Role.PATIENT
    return None


def transcript_stem(path: Path) -> str:
    """The visit's output name: ``visit.transcript.json`` -> ``visit``, ``visit.vtt`` ->
    ``visit``."""
    name = path.name
    for suffix in (".transcript.json", *TRANSCRIPT_EXTENSIONS):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem or name


def transcript_files(folder: Path) -> list[Path]:
    """The transcripts in ``folder``, sorted: files ending in ``TRANSCRIPT_EXTENSIONS``
    (and links there that do not resolve, for the caller to report: ``errors.listed``),
    less Scribe's other outputs (``.note.json``, ``.fhir.json``, ``.transaction.json``)
    and less ``NAME.vtt`` where ``NAME.transcript.json`` is beside it (the same visit,
    written twice by ``transcribe --no-privacy``: the JSON, which has more, is read)."""
    found = sorted(
        f for f in folder.iterdir()
        if listed(f)
        and f.suffix.lower() in TRANSCRIPT_EXTENSIONS
        and not f.name.lower().endswith(NOT_TRANSCRIPTS)
    )
    json_stems = {transcript_stem(f) for f in found if f.name.lower().endswith(".transcript.json")}
    return [f for f in found if not (f.suffix.lower() == ".vtt" and transcript_stem(f) in json_stems)]


# --- reading -----------------------------------------------------------------------------


def read_transcript(path: Path) -> TranscriptFile:
    """Read the transcript at ``path``: its format from the extension (``.json``,
    ``.vtt``, ``.txt``), checked against the content; another extension is told by the
    content (``WEBVTT`` first, a JSON object, else text).

    Raises ``InputError`` (exit code 2): the file is missing, unreadable, not a regular
    file, empty, binary, not UTF-8, over ``MAX_BYTES``, or not a transcript in its format
    (each with its reason); or it holds no transcript lines."""
    text = _read_text(path)
    ext = path.suffix.lower()
    stripped = text.lstrip()
    if ext == ".json":
        fmt = "transcript-json"
    elif ext == ".vtt":
        fmt = "webvtt"
    elif stripped.startswith("WEBVTT"):
        fmt = "webvtt"
    elif ext != ".txt" and stripped.startswith("{"):
        fmt = "transcript-json"
    else:
        fmt = "text"
    if fmt == "transcript-json":
        transcript, models = parse_transcript_json(text, path)
    elif fmt == "webvtt":
        transcript, models = parse_webvtt(text, path), ()
    else:
        transcript, models = parse_text(text, path), ()
    return TranscriptFile(path, fmt, transcript, models)


def _read_text(path: Path) -> str:
    try:
        if path.is_dir():
            raise InputError(path, "is a folder, not a transcript")
        if not path.exists():
            raise not_found(path)
        if not path.is_file():
            raise InputError(path, "not a regular file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(path, f"too large for a transcript ({size / 2**20:.0f} MB; at most {MAX_BYTES // 2**20} MB)")
        data = path.read_bytes()
    except OSError as e:
        raise InputError(path, f"cannot be read ({e.strerror or type(e).__name__})") from None
    if not data.strip():
        raise InputError(path, "file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # A UTF-16 file with its byte-order mark (Windows Notepad's "Unicode"): text.
        try:
            return data.decode("utf-16").removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise InputError(path, "not valid UTF-16 text despite its byte-order mark") from None
    if b"\x00" in data:
        raise InputError(path, "not a text file (binary data)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    return text.removeprefix("\ufeff")


# --- Scribe's transcript JSON ------------------------------------------------------------


def parse_transcript_json(text: str, path: Path) -> tuple[Transcript, tuple[ModelInfo, ...]]:
    """Scribe's transcript JSON -> (transcript, the models it names). Segments need
    ``id`` (distinct), ``start``, ``end`` and ``text``; ``duration`` defaults to the last
    segment's end. Raises ``InputError``, whose reason names the field and the segment's
    position only, never a value from the file (which may be the visit's words)."""
    try:
        doc = json.loads(text)
    except RecursionError:  # "[" x 100000: Python's parser recurses once per level
        raise InputError(path, "not a Scribe transcript (JSON nested too deeply)") from None
    except ValueError as e:
        # JSONDecodeError's msg is the parser's wording ("Expecting ',' delimiter"), never
        # the document's text.
        reason = f"{e.msg} at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else type(e).__name__
        raise InputError(path, f"not valid JSON ({reason})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
        raise InputError(path, 'not a Scribe transcript (expected a JSON object with a "segments" list)')
    segments: list[Segment] = []
    first_seen: dict[str, int] = {}
    for i, raw in enumerate(doc["segments"]):
        try:
            seg = _segment(raw)
        except ValueError as e:
            raise InputError(path, f"not a Scribe transcript (segment {i}: {e})") from None
        if seg.id in first_seen:
            raise InputError(path, f"not a Scribe transcript (segment {i}: id is the same as segment {first_seen[seg.id]}'s)")
        first_seen[seg.id] = i
        segments.append(seg)
    if not any(s.text.strip() for s in segments):
        raise InputError(path, "holds no transcript lines (no segment has text)")
    duration = _number(doc.get("duration", max(s.end for s in segments)))
    language = doc.get("language") or "en"
    if duration is None or not is_language_code(language):
        raise InputError(path, 'not a Scribe transcript ("duration" or "language" malformed)')
    # Written before languages were recorded per segment: English notes, as then.
    note_language = doc.get("note_language") or "en"
    if not is_language_code(note_language):
        raise InputError(path, 'not a Scribe transcript ("note_language" is not a language code)')
    # "languages" (seconds per language) is derived from the segments: checked, not read.
    languages = doc.get("languages", {})
    if not isinstance(languages, dict) or not all(is_language_code(k) and _number(v) is not None for k, v in languages.items()):
        raise InputError(path, 'not a Scribe transcript ("languages" is not an object of seconds per language code)')
    if all(s.speaker is None for s in segments):
        # No speakers at all (another tool's export): one unlabelled voice, whose role the
        # labeller judges from what it says, rather than a note of nobody's words.
        segments = [replace(s, speaker="SPEAKER_00") for s in segments]
    transcript = Transcript(segments=tuple(segments), duration=max(duration, max(s.end for s in segments)),
                            language=language, note_language=note_language)
    return _label_roles(transcript), _models(doc.get("models"))


_ROLES = {r.value: r for r in Role}


def _number(value: Any) -> float | None:
    """``value`` as a finite float (a JSON number, or a string holding one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _segment(raw: Any) -> Segment:
    """One segment of Scribe's transcript JSON, checked field by field. Raises
    ``ValueError`` whose message names the field only (``start is not a number``):
    ``float()``'s, ``Role()``'s and ``Word()``'s own messages quote the value or key,
    which may be the visit's words, and an error line must never carry them."""
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    for key in ("id", "start", "end", "text"):
        if key not in raw:
            raise ValueError(f'no "{key}"')
    if not isinstance(raw["id"], str) or not raw["id"]:
        raise ValueError("id is not a non-empty string")
    if not isinstance(raw["text"], str):
        raise ValueError("text is not a string")
    start, end = _number(raw["start"]), _number(raw["end"])
    for name, value in (("start", start), ("end", end)):
        if value is None:
            raise ValueError(f"{name} is not a number of seconds")
        if value < 0:
            raise ValueError(f"{name} is negative")
    if end < start:
        raise ValueError("end before start")
    speaker = raw.get("speaker")
    if speaker is not None and not isinstance(speaker, str):
        raise ValueError("speaker is not a string")
    role = raw.get("role", Role.UNKNOWN.value)
    if role not in _ROLES:
        raise ValueError(f"role is not one of {', '.join(_ROLES)}")
    words = raw.get("words", [])
    if not isinstance(words, list):
        raise ValueError("words is not a list")
    checked = []
    for j, w in enumerate(words):
        if not isinstance(w, dict) or not {"start", "end", "text"} <= w.keys() or not w.keys() <= {"start", "end", "text", "probability"}:
            raise ValueError(f"word {j} is not an object with start, end, text and probability")
        times = [_number(w[k]) for k in ("start", "end")]
        probability = _number(w.get("probability", 1.0))
        if None in times or probability is None or not isinstance(w["text"], str):
            raise ValueError(f"word {j}: start, end or probability is not a number, or text not a string")
        checked.append(Word(times[0], times[1], w["text"], probability))
    language = raw.get("language")
    if language is not None and not is_language_code(language):
        raise ValueError("language is not a language code (en, es, ...) or null")
    translation = raw.get("translation")
    if translation is not None and not isinstance(translation, str):
        raise ValueError("translation is not a string or null")
    return Segment(id=raw["id"], start=start, end=end, text=raw["text"], words=tuple(checked), speaker=speaker,
                   role=_ROLES[role], language=language, translation=translation or None)


def _models(raw: Any) -> tuple[ModelInfo, ...]:
    # What produced the transcript; the drafter and role labeller are ours this time.
    if not isinstance(raw, list):
        return ()
    out = []
    for m in raw:
        if (isinstance(m, dict) and all(isinstance(m.get(k), str) for k in ("kind", "name", "version"))
                and m["kind"] not in ("drafter", "role-labeller")):
            out.append(ModelInfo(m["kind"], m["name"], m["version"]))
    return tuple(out)


# --- WebVTT ------------------------------------------------------------------------------


def _vtt_seconds(stamp: str) -> float | None:
    """A cue time (``[hh:]mm:ss.ttt``) in seconds; None when its minutes or seconds are
    60 or more (``99:99.999`` is no time, not 1:40:39.999)."""
    *hours, minutes, seconds = stamp.split(":")
    if int(minutes) >= 60 or float(seconds) >= 60:
        return None
    return float(seconds) + 60 * int(minutes) + (3600 * int(hours[0]) if hours else 0)


def _unescape(text: str) -> str:
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ")
    text = text.replace("&lrm;", "").replace("&rlm;", "")
    return text.replace("&amp;", "&")


@dataclass(frozen=True)
class _Cue:
    ident: str | None
    start: float
    end: float
    payload: str


def _cues(text: str, path: Path) -> list[_Cue]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = lines[0].strip() if lines else ""
    if not (first == "WEBVTT" or first.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise InputError(path, 'not a WebVTT file (the first line must be "WEBVTT")')
    # The header runs to the first blank line (WEBVTT, then optional metadata lines).
    body = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    blocks: list[list[str]] = [[]]
    for line in lines[body:]:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    cues: list[_Cue] = []
    for block in blocks:
        if not block or block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        ident, timing = (None, block[0]) if "-->" in block[0] else (block[0].strip(), block[1] if len(block) > 1 else "")
        # Cues are named by number, never by their identifier: it is free text.
        where = f"cue {len(cues) + 1}"
        m = _TIMING.match(timing.strip())
        if not m:
            raise InputError(path, f"not a WebVTT file ({where}: no valid 'start --> end' time line)")
        start, end = _vtt_seconds(m.group(1)), _vtt_seconds(m.group(2))
        if start is None or end is None:
            raise InputError(path, f"not a WebVTT file ({where}: minutes and seconds must be below 60)")
        if end < start:
            raise InputError(path, f"not a WebVTT file ({where}: end before start)")
        body = block[2:] if ident is not None else block[1:]
        cues.append(_Cue(ident, start, end, " ".join(body)))
    return cues


def parse_webvtt(text: str, path: Path) -> Transcript:
    """WebVTT captions -> a transcript, one segment per voice span (a cue with two voices
    is split, its time shared by word count). ``<v Clinician (SPEAKER_00)>`` (Scribe's
    own) gives role and speaker; ``<v NAME>`` the speaker NAME, and its role when NAME
    names one (``role_from_label``). A cue without a voice has no speaker. Other tags
    (``<b>``, ``<c.x>``, timestamps) are dropped and entities unescaped. Raises
    ``InputError``: no ``WEBVTT`` header, a malformed cue, no cues, or no voice tags."""
    cues = _cues(text, path)
    if not cues:
        raise InputError(path, "holds no transcript lines (a WebVTT file without cues)")
    voiced = any(_VOICE.search(c.payload) for c in cues)
    labelled = not voiced and all(_LABEL.match(_plain(c.payload)) for c in cues if _plain(c.payload))
    if not voiced and not labelled:
        raise InputError(
            path, "no speakers (cues need voice tags like <v SPEAKER_00>, or 'NAME: text' lines)"
        )
    keep_ids = all(c.ident and _SEGMENT_ID.match(c.ident) for c in cues) and len({c.ident for c in cues}) == len(cues)
    raw: list[tuple[str | None, float, float, str, str | None, str | None, str | None]] = []
    note_languages: list[str] = []
    for cue in cues:
        payload, translation, note_language = _translation(cue.payload)
        if note_language:
            note_languages.append(note_language)
        said = _language(payload)
        spans = _voices(payload) if voiced else [_labelled(payload)]
        spans = [(v, t) for v, t in spans if t]
        total = sum(len(t.split()) for _, t in spans) or 1
        at = cue.start
        for i, (voice, words) in enumerate(spans):
            end = cue.end if i == len(spans) - 1 else at + (cue.end - cue.start) * len(words.split()) / total
            ident = cue.ident if keep_ids and len(spans) == 1 else None
            # id, start, end, text, voice, language, translation (a cue of one voice only)
            raw.append((ident, at, end, words, voice, said, translation if len(spans) == 1 else None))
            at = end
    if not raw:
        raise InputError(path, "holds no transcript lines (every cue is empty)")
    if any(r[0] is None for r in raw):  # renumbered: ids must be distinct and s<N>
        raw = [(f"s{i}", *r[1:]) for i, r in enumerate(raw)]
    segments = []
    for ident, start, end, words, voice, said, translation in raw:
        speaker, role = _speaker_role(voice)
        segments.append(Segment(id=str(ident), start=round(start, 3), end=round(end, 3), text=words,
                                speaker=speaker, role=role, language=said, translation=translation))
    transcript = Transcript(segments=tuple(segments), duration=max(s.end for s in segments), language="en",
                            note_language=max(set(note_languages), key=note_languages.count) if note_languages else "en")
    main = next(iter(transcript.languages()), None) if any(s.language for s in segments) else None
    return _label_roles(replace(transcript, language=main or "en"))


def _language_tag(tag: str) -> str | None:
    """A BCP 47 tag's language (``es-MX`` -> ``es``); None when it is not a code."""
    code = tag.split("-")[0].lower()
    return code if is_language_code(code) else None


def _translation(payload: str) -> tuple[str, str | None, str | None]:
    """(the cue without its translation span, the translation, its language)."""
    m = _TRANSLATION.search(payload)
    if m is None:
        return payload, None, None
    lang = _LANG.search(m.group(1))
    return payload[: m.start()] + payload[m.end():], _plain(m.group(1)) or None, _language_tag(lang.group(1)) if lang else None


def _language(payload: str) -> str | None:
    """The language of a cue's first language span; None without one."""
    m = _LANG.search(payload)
    return _language_tag(m.group(1)) if m else None


def _plain(payload: str) -> str:
    return " ".join(_unescape(_TAG.sub("", payload)).split())


def _voices(payload: str) -> list[tuple[str | None, str]]:
    """(voice, text) for each voice span of a cue; text before the first voice tag has
    no voice."""
    spans: list[tuple[str | None, str]] = []
    matches = list(_VOICE.finditer(payload))
    head = payload[: matches[0].start()] if matches else payload
    if _plain(head):
        spans.append((None, _plain(head)))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(payload)
        spans.append((" ".join(_unescape(m.group(1)).split()) or None, _plain(payload[m.end():end])))
    return spans


def _labelled(payload: str) -> tuple[str | None, str]:
    text = _plain(payload)
    m = _LABEL.match(text)
    return (m.group(1).strip(), m.group(2).strip()) if m else (None, text)


def _speaker_role(voice: str | None) -> tuple[str | None, Role]:
    if not voice:
        return None, Role.UNKNOWN
    m = _SCRIBE_VOICE.match(voice)
    if m:  # Scribe's own captions: "Clinician (SPEAKER_00)"
        return m.group(2), Role(m.group(1).lower())
    return voice, Role.UNKNOWN


# --- plain text --------------------------------------------------------------------------


def parse_text(text: str, path: Path) -> Transcript:
    """Plain text, one turn a line, ``LABEL: text`` -> a transcript.

    - A line is a turn when it starts with a label (a letter, then at most 40 letters,
      digits, spaces or ``_.'()-``) and a colon: ``SPEAKER_00: ...``, ``Dr Lee: ...``,
      ``patient: ...``. A label alone on its line (``Dr Lee:``) starts a turn whose text
      follows on the next lines.
    - Each non-empty line is one segment (s0, s1, ...), so a note's evidence points at a
      line of the file; a line without a label continues the previous turn (same speaker,
      a segment of its own). Lines before the first label (a title) are skipped.
    - Plain text has no times: each segment lasts ``SECONDS_PER_WORD`` per word (at
      least ``MIN_TURN_SECONDS``), one after another from 0, only so that times are
      plausible (as benchmarks/aci_bench_notes.py does; nothing scores them).

    Raises ``InputError`` when no line has a ``LABEL:``."""
    segments: list[Segment] = []
    speaker: str | None = None
    labelled = False
    t = 0.0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _LABEL.match(line)
        only = _LABEL_ONLY.match(line) if m is None else None
        if m:
            speaker, line = m.group(1).strip(), m.group(2).strip()
            labelled = True
        elif only:
            speaker, labelled = only.group(1).strip(), True
            continue
        elif speaker is None:
            continue  # before the first turn: a title or a header
        if not line:
            continue
        duration = max(MIN_TURN_SECONDS, SECONDS_PER_WORD * len(line.split()))
        segments.append(Segment(id=f"s{len(segments)}", start=round(t, 3), end=round(t + duration, 3), text=line,
                                speaker=speaker))
        t += duration
    if not labelled:
        raise InputError(path, "no 'LABEL: text' lines (expected one turn a line, e.g. 'Dr Lee: How are you?')")
    if not segments:
        raise InputError(path, "holds no transcript lines (every turn is empty)")
    return _label_roles(Transcript(segments=tuple(segments), duration=round(t, 3), language="en"))


def _label_roles(transcript: Transcript) -> Transcript:
    """Segments whose role is ``UNKNOWN`` take the role their speaker label names."""
    segments = tuple(
        replace(s, role=role_from_label(s.speaker) or Role.UNKNOWN) if s.role is Role.UNKNOWN else s
        for s in transcript.segments
    )
    return replace(transcript, segments=segments)
