"""The ``scribe`` command line. A thin layer over the pipeline and the writers.

Errors about inputs and outputs are printed as one line (``error: <path>: <reason>``)
and turn into a non-zero exit code; one bad file in a batch never stops the others.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from scribe import __version__
from scribe.errors import InputError, NoSpeechError, OutputError, ScribeError

logger = logging.getLogger("scribe.cli")

AUDIO_EXTENSIONS = {
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".webm",
    ".mp4", ".mkv", ".mov", ".wma", ".amr", ".3gp",
}

OUTPUT_SUFFIXES = (".transcript.json", ".rttm", ".vtt", ".note.md", ".fhir.json")

app = typer.Typer(
    name="scribe",
    help=(
        "Scribe: a local-first ambient clinical scribe. Turns a recorded visit into a "
        "speaker-labelled transcript, a draft note for the clinician to review, and a FHIR "
        "document. Everything runs on this machine; nothing is sent anywhere."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scribe {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress (metadata only) to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


@app.command()
def transcribe(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Recorded visits (wav, flac, mp3, m4a, ogg/opus, or a video file) or folders of them.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (created if missing).")] = Path("out"),
    model: Annotated[
        str,
        typer.Option(help="Speech model: 'tiny.en' (English, fastest), 'base' (multilingual), or a CTranslate2 Whisper folder."),
    ] = "tiny.en",
    template: Annotated[
        str, typer.Option(help="Note template: a name from templates/ (soap, hp) or a .toml file.")
    ] = "soap",
    speakers: Annotated[
        Optional[int],
        typer.Option(min=1, max=8, help="Number of speakers if known; estimated otherwise."),
    ] = None,
    language: Annotated[
        Optional[str], typer.Option(help="Language code (en, es, fr, ...); needed with --model base for non-English.")
    ] = None,
    device: Annotated[Device, typer.Option(help="Where the speech model runs.")] = Device.cpu,
    vocabulary: Annotated[
        Optional[str],
        typer.Option(help="Clinical terms to expect (drug names, conditions), comma-separated, or @FILE."),
    ] = None,
) -> None:
    """Transcribe recorded visits and draft their notes.

    For each recording NAME, writes into --out: NAME.transcript.json (segments with start, end, speaker, role, text and word times), NAME.rttm, NAME.vtt, NAME.note.md (the draft note, for clinician review) and NAME.fhir.json (a FHIR R4 DocumentReference carrying the note).

    Exit codes: 0 all processed; 1 template or FHIR problem; 2 an input missing, unreadable, empty, corrupt or truncated; 3 results cannot be written; 4 speech model or --language problem; 5 a recording holds no speech. With several failures, the highest.
    """
    from scribe.options import ScribeOptions

    jobs, failures = _expand(inputs)
    try:
        _check_writable(out)
        options = ScribeOptions(
            model=model,
            language=language,
            device=device.value,
            vocabulary=_vocabulary(vocabulary),
            speakers=speakers,
            template=template,
        )
        pipeline = _load_pipeline(options) if jobs else None
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)
    for path, uri in jobs:
        try:
            _transcribe_one(pipeline, path, uri, out)
        except ScribeError as e:
            _fail(e)
            failures.append(e)
        except Exception as e:  # one broken file must not stop the batch
            logger.debug("unexpected failure", exc_info=True)
            failures.append(InputError(path, f"could not be processed ({type(e).__name__})"))
            _fail(failures[-1])
    if failures:
        total = len(jobs) + sum(1 for f in failures if isinstance(f, InputError) and f.before_processing)
        typer.echo(f"{len(failures)} of {total} input(s) failed", err=True)
        raise typer.Exit(max(f.exit_code for f in failures))


def _transcribe_one(pipeline, path: Path, uri: str, out: Path) -> None:
    from scribe import writers
    from scribe.fhir import FhirValidationError, build_document_reference

    result = _process(pipeline, path, uri)
    options = result.options.to_dict()
    markdown = writers.render_note_markdown(
        result.note, result.transcript, uri=uri, options_dict=options, models=result.models
    )
    try:
        doc = build_document_reference(
            result.note,
            markdown,
            models=result.models,
            created=datetime.now(timezone.utc),
            transcript=result.transcript,
        )
    except FhirValidationError as e:
        raise ScribeError(f"{path}: the draft note is not valid FHIR ({e})") from None
    # Write the five files into a private folder first and move them into place at the
    # end, so a failure leaves either all of a visit's results or none of them.
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{uri}.", dir=out))
    except OSError as e:
        raise OutputError(out, f"cannot write results ({e.strerror or type(e).__name__})") from None
    try:
        names = [f"{uri}{ext}" for ext in OUTPUT_SUFFIXES]
        writers.write_transcript_json(
            result.transcript, staging / names[0], uri=uri, options_dict=options, models=result.models
        )
        writers.write_rttm(result.transcript, staging / names[1], uri=uri)
        writers.write_webvtt(result.transcript, staging / names[2])
        writers.write_text(markdown, staging / names[3])
        writers.write_fhir(doc, staging / names[4])
        moved: list[Path] = []
        try:
            for name in names:
                os.replace(staging / name, out / name)
                moved.append(out / name)
        except OSError:
            for done in moved:  # all of a visit's results or none
                done.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(out, f"cannot write results for {path.name} ({e.strerror or type(e).__name__})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    n = len(result.transcript.segments)
    if n == 0:
        raise NoSpeechError(path, f"no speech detected; {out}/{uri}.note.md says nothing was captured")
    typer.echo(
        f"{path}: {result.transcript.duration:.1f} s, {len(result.annotation.labels())} speaker(s), "
        f"{n} line(s) -> {out}/{uri}.*"
    )


def _process(pipeline, path: Path, uri: str):
    # A progress bar only on a terminal: in a log or a pipe it would be noise around the
    # one line each file gets.
    if not sys.stderr.isatty():
        return pipeline.process(path, uri=uri)
    with typer.progressbar(length=1000, label=path.name, file=sys.stderr, show_eta=False) as bar:
        done = [0]

        def progress(seconds: float, total: float | None) -> None:
            target = int(1000 * min(seconds / total, 1.0)) if total else done[0]
            bar.update(target - done[0])
            done[0] = target

        result = pipeline.process(path, progress, uri=uri)
        bar.update(1000 - done[0])
    return result


def _expand(inputs: list[Path]) -> tuple[list[tuple[Path, str]], list[ScribeError]]:
    """Files to process, each with a distinct output name, and the inputs that failed.

    Two inputs with the same stem (a/visit.wav, b/visit.wav; visit.wav, visit.mp3) get
    visit, visit-2, ...: one visit's results must never overwrite another's."""
    files: list[Path] = []
    failures: list[ScribeError] = []
    for p in inputs:
        try:
            if p.is_dir():
                found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
                if not found:
                    raise InputError(p, "folder holds no audio files")
                files.extend(found)
            elif not p.exists():
                raise InputError(p, "file not found")
            else:
                files.append(p)
        except InputError as e:
            e.before_processing = True
            failures.append(e)
            _fail(e)
        except OSError as e:
            failures.append(InputError(p, f"cannot be read ({e.strerror or type(e).__name__})"))
            failures[-1].before_processing = True
            _fail(failures[-1])
    jobs: list[tuple[Path, str]] = []
    used: set[str] = set()
    for f in files:
        uri, n = f.stem, 1
        while uri in used:
            n += 1
            uri = f"{f.stem}-{n}"
        used.add(uri)
        jobs.append((f, uri))
    return jobs, failures


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise OutputError(out, f"output folder is not writable ({e.strerror or type(e).__name__})") from None


def _vocabulary(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(path, f"cannot read vocabulary file ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    terms = [t.strip() for t in value.replace("\n", ",").split(",") if t.strip()]
    return ", ".join(terms) + "." if terms else None


def _load_pipeline(options):
    from scribe.pipeline import Pipeline

    return Pipeline(options)


def _fail(error: ScribeError) -> None:
    typer.echo(f"error: {error}", err=True)


if __name__ == "__main__":  # pragma: no cover
    app()
