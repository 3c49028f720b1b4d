"""The site's configuration file: what a clinic's IT sets once for a machine.

``$SCRIBE_CONFIG`` or ``~/.config/scribe/config.toml`` (``$XDG_CONFIG_HOME``)::

    privacy = true          # privacy mode (default); false keeps visits, encrypted at rest
    retention_days = 30     # standard mode: visits older than this are purged
    data_dir = "/var/lib/scribe"   # audit log, site key and kept visits

    [fhir]                  # the EHR's FHIR server (scribe export, transcribe --fhir-server)
    server = "https://ehr.example.org/fhir/R4"
    token_file = "/etc/scribe/fhir-token"    # 0600; or $SCRIBE_FHIR_TOKEN
    organization = "Organization/clinic-1"   # custodian of the notes
    practitioner = "Practitioner/123"        # this machine's clinician, if it has one

    [note]                  # how notes are drafted (transcribe, draft, serve, record)
    drafter = "llm"         # extractive (default), llm or audio-llm
    model = "/opt/scribe/models/gemma-3-270m-q4_k_m.gguf"   # the model drafter's folder or .gguf
    device = "auto"         # auto (cuda when torch sees one), cpu or cuda
    dtype = "auto"          # auto (float32 on cpu, bfloat16 on cuda), float32, float16, bfloat16
    language = "en"         # the language notes are written in (ISO 639-1); speech in
                            # another language is translated into it (--model base)

    [diarization]           # who spoke when (transcribe, serve, record)
    model = "/opt/scribe/models/pyannote-community-1"   # --diarizer pyannote's pipeline folder

    [recognition]           # what the speech model is told to expect (live and batch)
    terms = ["ibuprofen", "meloxicam"]      # the site's
    clinician_terms = ["apixaban"]          # this machine's clinician's (added to the site's)
    languages = ["en", "es"]                # the languages the site's visits are held in: each
                                            # segment's language is detected among these only

Command-line options override it (``--drafter``, ``--note-model``, ``--note-device``,
``--note-dtype``, ``--note-language`` over the [note] keys, ``--languages`` over
[recognition] languages, ``--diarizer-model`` over [diarization] model, as
``--fhir-server`` over [fhir] server);
``--vocabulary`` and the recorder page's Terms add to the [recognition] terms, all given
to Whisper as one prompt (``scribe.options.vocabulary_prompt``). A drafter
name the registry lacks, or a language that is not a code (``"english"``), is refused in
one line naming this file (exit code 1); a model
that cannot be found or loaded is the model drafter's one-line error (exit code 4), as is
a language code the speech model does not know or a note language the drafter does not
write. Secrets never go here or on the command line: the
standard-mode site key lives in its own 0600 file (``site.key`` in data_dir), the FHIR
server's token in ``token_file`` or the environment.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from scribe.errors import PathError
from scribe.options import NOTE_DEVICES, NOTE_DTYPES, is_language_code, vocabulary_prompt


# The largest config read. The documented settings take under 1 kB and a long
# [recognition] term list (MAX_TERM_CHARS a term) tens of kB; a file past 1 MB is not a
# config someone wrote (a wrong path, a log, a device) and is refused before it is parsed.
MAX_CONFIG_BYTES = 1024 * 1024


class ConfigError(PathError):
    exit_code = 1


@dataclass(frozen=True)
class FhirConfig:
    server: str | None = None
    token_file: Path | None = None
    organization: str | None = None
    practitioner: str | None = None

    def token(self) -> str | None:
        """$SCRIBE_FHIR_TOKEN, else the token file's first line."""
        if os.environ.get("SCRIBE_FHIR_TOKEN"):
            return os.environ["SCRIBE_FHIR_TOKEN"].strip()
        if self.token_file is None:
            return None
        try:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as e:
            raise ConfigError(self.token_file, f"FHIR token file cannot be read ({e.strerror or type(e).__name__})") from None


@dataclass(frozen=True)
class NoteConfig:
    """The [note] table: each key None when the file does not set it (the command's
    option, else ``ScribeOptions``' default, applies)."""

    drafter: str | None = None
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class DiarizationConfig:
    """The [diarization] table: ``model``, the pyannote diarizer's local pipeline folder
    (None when the file does not set it)."""

    model: str | None = None


@dataclass(frozen=True)
class RecognitionConfig:
    """The [recognition] table: terms to expect (drug names, local words), the site's and
    this machine's clinician's, in the order given."""

    terms: tuple[str, ...] = ()
    clinician_terms: tuple[str, ...] = ()
    languages: tuple[str, ...] | None = None  # None: not set (the command's --languages, else any)

    def prompt(self, *more) -> str | None:
        """Whisper's prompt: these terms, then ``more`` (lists of terms: the command
        line's, a visit's), as ``scribe.options.vocabulary_prompt`` writes it."""
        return vocabulary_prompt(self.terms, self.clinician_terms, *more)


# A term is a word or short phrase; longer text is not a term list (and Whisper reads
# only PROMPT_TOKENS of prompt, about 1,000 characters: scribe.options).
MAX_TERM_CHARS = 80


@dataclass(frozen=True)
class SiteConfig:
    privacy: bool = True
    retention_days: int | None = None
    data_dir: Path | None = None
    fhir: FhirConfig = FhirConfig()
    note: NoteConfig = NoteConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    diarization: DiarizationConfig = DiarizationConfig()
    path: Path | None = None  # the file read, for errors that name it; None when there was none


def config_path() -> Path:
    if os.environ.get("SCRIBE_CONFIG"):
        return Path(os.environ["SCRIBE_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "scribe" / "config.toml"


def load_config(path: Path | None = None) -> SiteConfig:
    """The site's settings from ``path`` (default ``config_path()``).

    A missing file at the default place means defaults; a file named by
    ``$SCRIBE_CONFIG`` (or given) that does not exist is a ``ConfigError``: a site that
    points at its config and gets defaults instead (privacy on or off, another data dir)
    would be running on settings nobody chose.
    """
    named = path is not None or bool(os.environ.get("SCRIBE_CONFIG"))
    path = path or config_path()
    try:
        info = path.stat()
    except OSError as e:
        if not named:  # nothing (usable) at the default place: defaults
            return SiteConfig()
        if e.errno == errno.ELOOP:
            raise ConfigError(path, "symbolic link loop") from None
        if e.errno == errno.ENOENT:
            raise ConfigError(path, "is a broken link" if path.is_symlink() else "not found (SCRIBE_CONFIG names it)") from None
        raise ConfigError(path, f"cannot be read ({e.strerror or type(e).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        # A FIFO would block the command forever, /dev/zero fill memory: never opened.
        raise ConfigError(path, "not a regular file")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)  # at most this much, whatever stat said
    except OSError as e:
        raise ConfigError(path, f"cannot be read ({e.strerror or type(e).__name__})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, f"too large for a config (over {MAX_CONFIG_BYTES // 2**20} MB)")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, f"not valid TOML ({e})") from None
    unknown = set(data) - {"privacy", "retention_days", "data_dir", "fhir", "note", "recognition", "diarization"}
    if unknown:
        raise ConfigError(path, f"unknown setting(s): {', '.join(sorted(unknown))}")
    privacy = data.get("privacy", True)
    if not isinstance(privacy, bool):
        raise ConfigError(path, "privacy must be true or false")
    retention = data.get("retention_days")
    if retention is not None and (isinstance(retention, bool) or not isinstance(retention, int) or retention < 1):
        raise ConfigError(path, "retention_days must be a whole number of days, at least 1")
    data_dir = data.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise ConfigError(path, "data_dir must be a path")
    return SiteConfig(privacy, retention, Path(data_dir).expanduser() if data_dir else None, _fhir(path, data.get("fhir", {})),
                      _note(path, data.get("note", {})), _recognition(path, data.get("recognition", {})),
                      _diarization(path, data.get("diarization", {})), path)


def _diarization(path: Path, table) -> DiarizationConfig:
    if not isinstance(table, dict):
        raise ConfigError(path, "diarization must be a table ([diarization])")
    unknown = set(table) - {"model"}
    if unknown:
        raise ConfigError(path, f"unknown setting(s) in [diarization]: {', '.join(sorted(unknown))}")
    model = table.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigError(path, "diarization.model must be a non-empty string")
    return DiarizationConfig(str(Path(model).expanduser()) if model else None)


def _recognition(path: Path, table) -> RecognitionConfig:
    if not isinstance(table, dict):
        raise ConfigError(path, "recognition must be a table ([recognition])")
    unknown = set(table) - {"terms", "clinician_terms", "languages"}
    if unknown:
        raise ConfigError(path, f"unknown setting(s) in [recognition]: {', '.join(sorted(unknown))}")
    lists = []
    for key in ("terms", "clinician_terms"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
            raise ConfigError(path, f"recognition.{key} must be a list of non-empty strings")
        long = next((t for t in value if len(t.strip()) > MAX_TERM_CHARS or not t.isprintable()), None)
        if long is not None:
            raise ConfigError(path, f"recognition.{key}: {long[:20]!r}... is not a term (one line, at most {MAX_TERM_CHARS} characters)")
        lists.append(tuple(t.strip() for t in value))
    languages = table.get("languages")
    if languages is not None:
        if not isinstance(languages, list) or not all(is_language_code(c) for c in languages):
            raise ConfigError(path, 'recognition.languages must be a list of language codes (["en", "es"])')
        languages = tuple(dict.fromkeys(languages))
    return RecognitionConfig(*lists, languages=languages)


def _note(path: Path, table) -> NoteConfig:
    if not isinstance(table, dict):
        raise ConfigError(path, "note must be a table ([note])")
    unknown = set(table) - {"drafter", "model", "device", "dtype", "language"}
    if unknown:
        raise ConfigError(path, f"unknown setting(s) in [note]: {', '.join(sorted(unknown))}")
    if "language" in table and not is_language_code(table["language"]):
        raise ConfigError(path, 'note.language must be a language code ("en", "es", ...)')
    for key in ("drafter", "model", "device", "dtype"):
        if key in table and (not isinstance(table[key], str) or not table[key].strip()):
            raise ConfigError(path, f"note.{key} must be a non-empty string")
    for key, choices in (("device", NOTE_DEVICES), ("dtype", NOTE_DTYPES)):
        if key in table and table[key] not in choices:
            raise ConfigError(path, f"note.{key} {table[key]!r} is not one of {', '.join(choices)}")
    model = table.get("model")
    return NoteConfig(table.get("drafter"), str(Path(model).expanduser()) if model else None,
                      table.get("device"), table.get("dtype"), table.get("language"))


def _fhir(path: Path, table) -> FhirConfig:
    keys = {"server", "token_file", "organization", "practitioner"}
    if not isinstance(table, dict):
        raise ConfigError(path, "fhir must be a table ([fhir])")
    unknown = set(table) - keys
    if unknown:
        raise ConfigError(path, f"unknown setting(s) in [fhir]: {', '.join(sorted(unknown))}"
                          + ("; the token goes in token_file or $SCRIBE_FHIR_TOKEN" if "token" in unknown else ""))
    for key in keys:
        if key in table and not isinstance(table[key], str):
            raise ConfigError(path, f"fhir.{key} must be a string")
    token_file = table.get("token_file")
    return FhirConfig(table.get("server"), Path(token_file).expanduser() if token_file else None,
                      table.get("organization"), table.get("practitioner"))
