"""Running many recordings on this machine, one visit each, one after another.

``expand_inputs`` turns the command line's files and folders into jobs with distinct
output names; ``run_local`` processes them with ``process_recording`` and yields one
``RecordingOutcome`` per job as it finishes. A failed recording is one error (its visit
discarded whole) and never stops the others. A runner that spreads recordings over
machines (``ray_runner.run_ray``) takes the same jobs and calls the same
``process_recording`` per job on its workers.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scribe.batch.export import FhirExport
from scribe.batch.visit import VisitOutputs, process_recording
from privacy.errors import HIDDEN_CATEGORIES
from scribe.errors import InputError, NoSpeechError, ScribeError, listed, log_unforeseen, not_found

if TYPE_CHECKING:
    from scribe.pipeline import Pipeline, Progress
    from scribe.visits import VisitFactory

logger = logging.getLogger("scribe.batch.runner")

AUDIO_EXTENSIONS = frozenset({
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".webm",
    ".mp4", ".mkv", ".mov", ".wma", ".amr", ".3gp",
})

# Characters no output name keeps, each replaced by "_": those Windows and SMB shares
# (where a clinic's outputs often go) refuse, and those that break or disguise a line
# (controls, format characters such as bidi overrides, separators: the Unicode
# categories ``shown`` escapes in messages).
_REFUSED = frozenset('<>:"/\\|?*')
# Names Windows reserves whatever the extension ("NUL.note.md" is the null device there).
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))})
# File names are at most 255 bytes (ext4, APFS; NTFS counts 255 UTF-16 units). Scribe adds
# up to 30 (".instructions.transaction.json") and a "-NN" for a name used twice; 200 leaves room.
MAX_NAME_BYTES = 200


def output_name(stem: str) -> str:
    r"""A safe, readable output name for an input whose name (less its extension) is ``stem``.

    Any script is kept as it is, in Unicode NFC (macOS hands out NFD). A byte that is not
    valid UTF-8 (carried by Python as a surrogate escape) is read as Latin-1, the usual
    legacy encoding of such names (``caf\xe9`` -> ``café``). Whitespace runs (a newline
    too) become one space; characters that Windows or SMB shares refuse, or that break or
    disguise a line (controls, bidi overrides, zero-width characters), become ``_``.
    Leading dots, dashes and spaces go (a hidden file, a name read as an option), and
    trailing dots and spaces (Windows drops them); a Windows device name (the part before
    the first dot) gains ``_``; the name is cut to ``MAX_NAME_BYTES`` of UTF-8. A name
    left empty is ``visit``."""
    text = "".join(chr(ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c for c in stem)
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\s+", " ", text)
    text = "".join("_" if c in _REFUSED or unicodedata.category(c) in HIDDEN_CATEGORIES else c for c in text)
    text = re.sub(r"^[\s.-]+", "", text).rstrip(" .")
    text = text.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip(" .")
    base, dot, rest = text.partition(".")
    if base.upper() in _RESERVED:  # Windows reads the name up to its first dot
        text = f"{base}_{dot}{rest}"
    return text or "visit"


ProgressFor = Callable[[Path], AbstractContextManager["Progress | None"]]
"""For one recording, a context that yields its progress callback (or None) and closes
whatever shows it when the recording is done."""


@dataclass(frozen=True)
class Job:
    """One input to process (a recording; a transcript for ``scribe draft``): its path
    and its output name (unique in the batch)."""

    path: Path
    uri: str


@dataclass(frozen=True)
class RecordingOutcome:
    """What became of one job.

    ``outputs``: the visit's results (None when the visit failed and was discarded).
    ``errors``: one-line errors, in the order they happened: the visit's failure; or no
    speech (its empty results are still written, exit code 5); or a failed export (the
    files stay). Empty when all went well. ``visit_id``: the visit it ran in.
    """

    job: Job
    visit_id: str | None
    outputs: VisitOutputs | None
    errors: tuple[ScribeError, ...] = ()


def expand_inputs(
    inputs: Iterable[Path],
    *,
    listing: Callable[[Path], list[Path]] | None = None,
    stem: Callable[[Path], str] | None = None,
    kind: str = "audio files",
) -> tuple[list[Job], list[ScribeError]]:
    """Files to process, each with a distinct output name, and the inputs that failed
    (``InputError``: missing, unreadable, a folder without files to process; in input
    order).

    A folder gives the files ``listing(folder)`` returns (default: its audio files by
    extension, ``AUDIO_EXTENSIONS``, sorted); a folder giving none fails as holding no
    ``kind``. A listed entry that does not resolve (a broken link, a link loop: see
    ``errors.listed``) is a failed input of its own (``not_found``'s reason). A file's output name is ``output_name(stem(path))`` (``stem`` default:
    ``path.stem``). Two inputs with the same name (a/visit.wav, b/visit.wav; visit.wav,
    visit.mp3; Visit.wav, visit.wav, which are one file on macOS and Windows) get visit,
    visit-2, ...: one visit's results must never overwrite another's."""
    listing = listing or _audio_files
    stem = stem or (lambda f: f.stem)
    files: list[Path] = []
    failures: list[ScribeError] = []
    for p in inputs:
        try:
            if p.is_dir():
                found = listing(p)
                if not found:
                    raise InputError(p, f"folder holds no {kind}")
                for f in found:  # a broken link or a loop listed in it fails on its own
                    if f.exists():
                        files.append(f)
                    else:
                        failures.append(not_found(f))
            elif not p.exists():
                raise not_found(p)
            else:
                files.append(p)
        except InputError as e:
            failures.append(e)
        except OSError as e:
            failures.append(InputError(p, f"cannot be read ({e.strerror or type(e).__name__})"))
    jobs: list[Job] = []
    used: set[str] = set()
    for f in files:
        base = output_name(stem(f))
        uri, n = base, 1
        while uri.casefold() in used:
            n += 1
            uri = f"{base}-{n}"
        used.add(uri.casefold())
        jobs.append(Job(f, uri))
    return jobs, failures


def _audio_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if listed(f) and f.suffix.lower() in AUDIO_EXTENSIONS)


def discarded(error: ScribeError) -> ScribeError:
    """A privacy-mode visit that fails is discarded whole; the user is told so (the
    error's message gains "; visit discarded, nothing retained")."""
    error.args = (f"{error}; visit discarded, nothing retained",)
    return error


def run_local(
    pipeline: Pipeline,
    jobs: Sequence[Job],
    *,
    out: Path,
    visits: VisitFactory,
    export: FhirExport | None = None,
    progress: ProgressFor | None = None,
) -> Iterator[RecordingOutcome]:
    """Process ``jobs`` in order, each in a visit of its own from ``visits``, writing
    into ``out`` (an existing, writable folder) and, with ``export``, filing each note.
    Yields one outcome per job as soon as it is done; never raises for one recording
    (an unexpected exception becomes an ``InputError`` "could not be processed")."""
    for job in jobs:
        visit_id = None
        try:
            with visits.open() as visit, (progress or _no_progress)(job.path) as report:
                visit_id = visit.visit_id
                outputs = process_recording(
                    pipeline, job.path, uri=job.uri, out=out, visit=visit, progress=report, export=export
                )
        except ScribeError as e:
            yield RecordingOutcome(job, visit_id, None, (discarded(e) if visits.privacy else e,))
            continue
        except Exception as e:  # one broken file must not stop the batch
            log_unforeseen(logger, "unexpected failure", e)
            error = InputError(job.path, f"could not be processed ({type(e).__name__})")
            yield RecordingOutcome(job, visit_id, None, (discarded(error) if visits.privacy else error,))
            continue
        errors: tuple[ScribeError, ...] = ()
        if not outputs.has_speech:
            note = f"{out}/{job.uri}.note.md"
            errors = (NoSpeechError(job.path, f"no speech detected; {note} says nothing was captured"),)
        elif outputs.export_error is not None:
            errors = (outputs.export_error,)
        yield RecordingOutcome(job, visit_id, outputs, errors)


def _no_progress(path: Path) -> AbstractContextManager[Progress | None]:
    return nullcontext(None)
