"""The language options of the commands (issue 15): ``--note-language`` (transcribe,
draft, serve, record) and ``--languages`` (transcribe, serve, record), over the config's
[note] language and [recognition] languages."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from scribe.config import SiteConfig
from scribe.errors import ScribeError

# The languages of a visit (issue 15), shared by transcribe, serve and record (draft takes
# --note-language only: its transcript's languages were decided when it was made).
NoteLanguageOption = Annotated[
    Optional[str],
    typer.Option(
        "--note-language",
        metavar="CODE",
        help="The language the note is written in (ISO 639-1: en). Speech in another language is translated "
        "into it and the note drafted from the translations (--model base). Default: [note] language in the "
        "config, else en.",
        show_default=False,
    ),
]
LanguagesOption = Annotated[
    Optional[str],
    typer.Option(
        "--languages",
        metavar="CODES",
        help="The languages this site's visits are held in, comma-separated (en,es): each segment's language "
        "is detected among these only (--model base). Default: [recognition] languages in the config, else any.",
        show_default=False,
    ),
]


def language_options(site: SiteConfig, note_language: str | None, languages: str | None = None) -> dict:
    """The language fields of ``ScribeOptions`` (``note_language``, ``languages``): each
    option given, else the config's ([note] language, [recognition] languages), else the
    default. A code that is not one (``--note-language english``) is refused in one line
    naming the option (``ScribeError``, exit code 1); whether the speech model knows a
    language, or the drafter writes it, is theirs to say when they load (exit code 4)."""
    from scribe.options import is_language_code, language_codes

    out: dict = {}
    if note_language is not None:
        code = note_language.strip().lower()
        if not is_language_code(code):
            raise ScribeError(f"--note-language {note_language[:12]!r}: not a language code (en, es, fr, ...)")
        out["note_language"] = code
    elif site.note.language is not None:
        out["note_language"] = site.note.language
    if languages is not None:
        try:
            codes = language_codes(languages)
        except ValueError as e:
            raise ScribeError(f"--languages: {e}") from None
        if not codes:
            raise ScribeError("--languages: no language code given (en,es)")
        out["languages"] = codes
    elif site.recognition.languages is not None:
        out["languages"] = site.recognition.languages
    return out
