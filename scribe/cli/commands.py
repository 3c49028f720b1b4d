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
from scribe.config import load_config
from scribe.errors import FhirExportError, InputError, NoSpeechError, OutputError, ScribeError
from scribe.visits import VisitFactory, open_store

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


FhirServerOption = Annotated[
    Optional[str],
    typer.Option("--fhir-server", help="The EHR's FHIR R4 base URL (default: [fhir] server in the config). Its token: $SCRIBE_FHIR_TOKEN or [fhir] token_file, never an option."),
]
PatientOption = Annotated[Optional[str], typer.Option(help="The patient, as Patient/ID on the FHIR server.")]
PractitionerOption = Annotated[Optional[str], typer.Option(help="The clinician (author; signer of a signed note), as Practitioner/ID (default: the config's).")]
EncounterOption = Annotated[Optional[str], typer.Option(help="The visit, as Encounter/ID.")]
OrganizationOption = Annotated[Optional[str], typer.Option(help="The custodian, as Organization/ID (default: the config's).")]


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
    privacy: Annotated[
        Optional[bool],
        typer.Option(
            "--privacy/--no-privacy",
            help="Privacy mode (default, or as the config file says): only the note and its FHIR document are written; "
            "audio and transcript live in encrypted memory and are destroyed after each visit. "
            "--no-privacy also writes the transcript, RTTM and captions, and keeps the visit encrypted at rest.",
            show_default=False,
        ),
    ] = None,
    fhir_server: FhirServerOption = None,
    patient: PatientOption = None,
    practitioner: PractitionerOption = None,
    encounter: EncounterOption = None,
    organization: OrganizationOption = None,
) -> None:
    """Transcribe recorded visits and draft their notes.

    For each recording NAME, writes into --out: NAME.transcript.json (segments with start, end, speaker, role, text and word times), NAME.rttm, NAME.vtt, NAME.note.md (the draft note, for clinician review) and NAME.fhir.json (a FHIR R4 DocumentReference carrying the note).

    With --fhir-server (or [fhir] server in the config), each note is also sent to the EHR as draft (preliminary), for --patient/--encounter (one visit's identity: give one recording at a time).

    Exit codes: 0 all processed; 1 template or FHIR problem, or identity missing; 2 an input missing, unreadable, empty, corrupt or truncated; 3 results cannot be written; 4 speech model or --language problem; 5 a recording holds no speech; 6 the FHIR server refused a note. With several failures, the highest.
    """
    from scribe.options import ScribeOptions

    jobs, failures = _expand(inputs)
    unreadable = len(failures)  # inputs that never reached the pipeline
    try:
        site = load_config()
        privacy_on = site.privacy if privacy is None else privacy
        _check_writable(out)
        options = ScribeOptions(
            model=model,
            language=language,
            device=device.value,
            vocabulary=_vocabulary(vocabulary),
            speakers=speakers,
            template=template,
        )
        server = fhir_server or site.fhir.server
        context = _clinical_context(site, patient, practitioner, encounter, organization)
        if server:
            _check_identity(context, len(jobs))  # before hours of processing, not after
        visits = VisitFactory.start(privacy_on, site)
        _fhir_destination(site, server)
        pipeline = _load_pipeline(options) if jobs else None
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)
    for path, uri in jobs:
        try:
            with visits.open() as visit:
                result, names, doc = _transcribe_one(pipeline, path, uri, out, visit)
        except ScribeError as e:
            failures.append(_discarded(e) if privacy_on else e)
            _fail(failures[-1])
            continue
        except Exception as e:  # one broken file must not stop the batch
            logger.debug("unexpected failure", exc_info=True)
            error = InputError(path, f"could not be processed ({type(e).__name__})")
            failures.append(_discarded(error) if privacy_on else error)
            _fail(failures[-1])
            continue
        n = len(result.transcript.segments)
        if n == 0:
            failures.append(NoSpeechError(path, f"no speech detected; {out}/{uri}.note.md says nothing was captured"))
            _fail(failures[-1])
            continue
        kept = "privacy mode: nothing else kept" if privacy_on else f"visit {visits.last_id} kept, encrypted"
        typer.echo(
            f"{path}: {result.transcript.duration:.1f} s, {len(result.annotation.labels())} speaker(s), "
            f"{n} line(s) -> {', '.join(str(out / name) for name in names)} ({kept})"
        )
        if server:
            try:
                typer.echo(_send_or_write(doc, context, site, server, out, path))
            except ScribeError as e:
                failures.append(e)
                _fail(e)
    if failures:
        typer.echo(f"{len(failures)} of {len(jobs) + unreadable} input(s) failed", err=True)
        raise typer.Exit(max(f.exit_code for f in failures))


def _discarded(error: ScribeError) -> ScribeError:
    """A privacy-mode visit that fails is discarded whole; the user is told so."""
    error.args = (f"{error}; visit discarded, nothing retained",)
    return error


def _transcribe_one(pipeline, path: Path, uri: str, out: Path, visit):
    """Process one recording inside its visit and write what the visit's mode lets out:
    in privacy mode the exported documents only (note, FHIR), otherwise all five files.
    Returns the pipeline's result and the names written."""
    result = _process(pipeline, path, uri, visit)
    names, doc = _export(result, path, uri, out, visit)
    return result, names, doc


def _export(result, path: Path, uri: str, out: Path, visit) -> tuple[list[str], dict]:
    """Write a finished visit's results: in privacy mode the exported documents only
    (note, FHIR), otherwise all five files. Returns the names written and the FHIR
    DocumentReference."""
    import hashlib

    from scribe.batch import outputs as writers
    from scribe.fhir.document_reference import FhirValidationError, build_document_reference

    options = result.options.to_dict()
    markdown = writers.render_note_markdown(
        result.note,
        result.transcript,
        uri=uri,
        options_dict=options,
        models=result.models,
        transcript_kept=not visit.privacy,
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
    writes = {
        ".note.md": lambda p: writers.write_text(markdown, p),
        ".fhir.json": lambda p: writers.write_fhir(doc, p),
    }
    if not visit.privacy:
        writes.update({
            ".transcript.json": lambda p: writers.write_transcript_json(
                result.transcript, p, uri=uri, options_dict=options, models=result.models
            ),
            ".rttm": lambda p: writers.write_rttm(result.transcript, p, uri=uri),
            ".vtt": lambda p: writers.write_webvtt(result.transcript, p),
        })
    def audit(staged: dict[str, Path]) -> None:
        # Recorded before the files are moved into place: if the audit log refuses or
        # fails, nothing has been exported and the visit is discarded whole.
        visit.processed(
            audio_seconds=result.transcript.duration,
            segments=len(result.transcript.segments),
            speakers=len(result.annotation.labels()),
            **_model_fields(result.models),
            template=result.note.template,
        )
        for name, staged_path in staged.items():
            if name.endswith((".note.md", ".fhir.json")):
                digest = hashlib.sha256(staged_path.read_bytes()).hexdigest()
                visit.exported(sha256=digest, format="md" if name.endswith(".md") else "fhir")

    return _write_all(out, uri, path, writes, before_commit=audit), doc


def _write_all(
    out: Path, uri: str, path: Path, writes: dict, before_commit=None, suffixes=OUTPUT_SUFFIXES
) -> list[str]:
    # Write into a private folder first and move the files into place at the end, so a
    # failure leaves either all of a visit's results or none of them.
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{uri}.", dir=out))
    except OSError as e:
        raise OutputError(out, f"cannot write results ({e.strerror or type(e).__name__})") from None
    names = [f"{uri}{suffix}" for suffix in suffixes if suffix in writes]
    try:
        for name, suffix in zip(names, [s for s in suffixes if s in writes]):
            writes[suffix](staging / name)
        if before_commit is not None:
            before_commit({name: staging / name for name in names})
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
    return names


def _model_fields(models) -> dict[str, str]:
    """Model names for the audit log, made to fit its strict pattern: a local model
    folder may be called anything ("whisper small ct2")."""
    import re

    keys = {"speech": "asr_model", "vad": "vad_model", "speaker-embedding": "diarization_model", "drafter": "drafting_model"}
    return {
        keys[m.kind]: re.sub(r"[^A-Za-z0-9._:/+-]", "_", f"{m.name}:{m.version}")[:80]
        for m in models
        if m.kind in keys
    }


def _process(pipeline, path: Path, uri: str, visit):
    # A progress bar only on a terminal: in a log or a pipe it would be noise around the
    # one line each file gets.
    if not sys.stderr.isatty():
        return pipeline.process(path, uri=uri, visit=visit)
    with typer.progressbar(length=1000, label=path.name, file=sys.stderr, show_eta=False) as bar:
        done = [0]

        def progress(seconds: float, total: float | None) -> None:
            target = int(1000 * min(seconds / total, 1.0)) if total else done[0]
            bar.update(target - done[0])
            done[0] = target

        result = pipeline.process(path, progress, uri=uri, visit=visit)
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
            failures.append(e)
            _fail(e)
        except OSError as e:
            failures.append(InputError(p, f"cannot be read ({e.strerror or type(e).__name__})"))
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


# Options `serve` and `record` share (the live recorders).
LiveModelOption = Annotated[str, typer.Option(help="Speech model: 'tiny.en', 'base', or a CTranslate2 Whisper folder.")]
LiveLanguageOption = Annotated[Optional[str], typer.Option(help="Language code; needed with --model base for non-English.")]
LiveVocabularyOption = Annotated[Optional[str], typer.Option(help="Clinical terms to expect, comma-separated, or @FILE.")]
LivePrivacyOption = Annotated[
    Optional[bool],
    typer.Option("--privacy/--no-privacy", help="Privacy mode (default, or as the config file says).", show_default=False),
]


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    model: LiveModelOption = "tiny.en",
    template: Annotated[str, typer.Option(help="Default note template (the recorder page can pick another).")] = "soap",
    language: LiveLanguageOption = None,
    vocabulary: LiveVocabularyOption = None,
    privacy: LivePrivacyOption = None,
    fhir_server: FhirServerOption = None,
) -> None:
    """Start the capture service and its recorder page on this machine (127.0.0.1 only).

    Prints the URL to open: it carries this install's access token (kept in a 0600 file
    in the site data folder). Stop with Ctrl+C: open visits are discarded.
    """
    from scribe.service.access import load_or_create_token
    from scribe.options import ScribeOptions
    from scribe.service.capture import CaptureService
    from scribe.service.server import bind
    from scribe.service.server import serve as run

    try:
        site = load_config()
        privacy_on = site.privacy if privacy is None else privacy
        options = ScribeOptions(model=model, language=language, vocabulary=_vocabulary(vocabulary), template=template)
        try:
            sock = bind(port)
        except OSError as e:
            raise OutputError(f"127.0.0.1:{port}", f"cannot listen ({e.strerror or type(e).__name__}); try another --port") from None
        visits = VisitFactory.start(privacy_on, site)
        fhir = _fhir_destination(site, fhir_server)
        token = load_or_create_token()
        service = CaptureService(_load_pipeline(options), visits, token=token, fhir=fhir)
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)

    def ready(url: str) -> None:
        mode = "privacy mode: nothing of a visit is kept" if privacy_on else "standard mode: visits kept, encrypted"
        typer.echo(f"Scribe capture service ready ({mode}). Open in a browser on this machine:")
        typer.echo(f"  {url}?token={token}", nl=True)
        sys.stdout.flush()

    run(service, sock, ready)


@app.command()
def record(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the note (created if missing).")] = Path("out"),
    device: Annotated[
        Optional[str], typer.Option(help="Input device: a name (or part of one) or an index from --list-devices. Default: the system's.")
    ] = None,
    list_devices: Annotated[bool, typer.Option("--list-devices", help="List input devices and exit.")] = False,
    name: Annotated[Optional[str], typer.Option(help="Name of the outputs (default: visit-DATE-TIME).")] = None,
    seconds: Annotated[Optional[float], typer.Option(min=1, help="Stop after this many seconds (default: at Ctrl+C).")] = None,
    model: LiveModelOption = "tiny.en",
    template: Annotated[str, typer.Option(help="Note template: soap, hp, or a .toml file.")] = "soap",
    language: LiveLanguageOption = None,
    vocabulary: LiveVocabularyOption = None,
    privacy: LivePrivacyOption = None,
) -> None:
    """Record a visit from this machine's microphone, without a browser.

    Shows the transcript as it is spoken; at Ctrl+C (or after --seconds) drafts the note
    and writes it into --out as `transcribe` does (privacy mode: NAME.note.md and
    NAME.fhir.json only). Exit codes as for `transcribe`; 2 also for a missing or busy
    microphone.
    """
    from scribe.live import microphone
    from scribe.options import ScribeOptions

    try:
        if list_devices:
            for line in microphone.describe_inputs():
                typer.echo(line)
            return
        site = load_config()
        privacy_on = site.privacy if privacy is None else privacy
        _check_writable(out)
        options = ScribeOptions(model=model, language=language, vocabulary=_vocabulary(vocabulary), template=template)
        uri = name or datetime.now().strftime("visit-%Y%m%d-%H%M%S")
        mic = microphone.Microphone(device)  # checked before the models load
        visits = VisitFactory.start(privacy_on, site)
        pipeline = _load_pipeline(options)
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)
    try:
        with visits.open() as visit:
            result = microphone.record_visit(pipeline, mic, visit, seconds=seconds, echo=_echo_line)
            if not result.transcript.segments:
                raise NoSpeechError(f"microphone {mic.name}", "no speech was captured")
            names, _ = _export(result, Path(mic.name), uri, out, visit)
    except ScribeError as e:
        error = _discarded(e) if privacy_on else e
        _fail(error)
        raise typer.Exit(error.exit_code)
    kept = "privacy mode: audio and transcript destroyed" if privacy_on else f"visit {visits.last_id} kept, encrypted"
    typer.echo(
        f"{result.transcript.duration:.1f} s, {len(result.annotation.labels())} speaker(s), "
        f"{len(result.transcript.segments)} line(s) -> {', '.join(str(out / n) for n in names)} ({kept})",
        err=True,
    )


def _echo_line(start: float, voice: int, text: str) -> None:
    typer.echo(f"[{int(start) // 60}:{int(start) % 60:02d}] voice {voice}: {text}")


@app.command()
def export(
    note: Annotated[Path, typer.Argument(help="A note's FHIR document: NAME.fhir.json from transcribe or record, or the recorder's export.", show_default=False)],
    fhir_server: FhirServerOption = None,
    patient: PatientOption = None,
    practitioner: PractitionerOption = None,
    encounter: EncounterOption = None,
    organization: OrganizationOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Without a server: where to write the transaction (default: NOTE's name + .transaction.json).")] = None,
    bundle: Annotated[bool, typer.Option("--bundle", help="Also file the note as a FHIR document: a Bundle led by a Composition with LOINC-coded sections.")] = False,
) -> None:
    """Send a note to the EHR's FHIR server as one transaction (DocumentReference, the
    scribe Device, Provenance), validated first; safe to repeat: a note already there is
    not filed twice, and a newer version of it (signed, amended) replaces the old one.
    Without a server, writes the transaction JSON to a file.

    Exit codes: 0 sent or written; 1 the note is not valid FHIR or identity is missing;
    2 NOTE missing or unreadable; 3 --out not writable; 6 the server refused it or kept failing.
    """
    try:
        site = load_config()
        doc = _read_fhir_note(note)
        context = _clinical_context(site, patient, practitioner, encounter, organization)
        target = out or note.with_name(note.name.removesuffix(".fhir.json").removesuffix(".json") + ".transaction.json")
        names = _send_or_write(doc, context, site, fhir_server, target, note, document=bundle)
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)
    typer.echo(names)


def _read_fhir_note(path: Path) -> dict:
    import json

    from scribe.fhir.document_reference import FhirValidationError, validate_document_reference

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot be read ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    except ValueError:
        raise InputError(path, "not JSON (expected a FHIR DocumentReference, NAME.fhir.json)") from None
    try:
        validate_document_reference(doc)
    except FhirValidationError as e:
        raise ScribeError(f"{path}: not a valid note document: {e}") from None
    return doc


def _clinical_context(site, patient, practitioner, encounter, organization):
    from scribe.fhir.client import ClinicalContext

    return ClinicalContext(
        patient=patient,
        practitioner=practitioner or site.fhir.practitioner,
        encounter=encounter,
        organization=organization or site.fhir.organization,
    )


def _fhir_destination(site, server: str | None):
    """The site's FHIR settings with ``server`` (option or config), opened in the network
    guard: the one destination a note may be exported to. None when there is none."""
    from dataclasses import replace as _replace

    from privacy.policy import allow_destination

    server = server or site.fhir.server
    if not server:
        return None
    try:
        allow_destination(server)
    except ValueError as e:
        raise ScribeError(f"--fhir-server: {e}") from None
    return _replace(site.fhir, server=server)


def _check_identity(context, files: int) -> None:
    from scribe.fhir.client import IdentityError

    try:
        context.check()
    except IdentityError as e:
        raise ScribeError(f"--fhir-server: {e}") from None
    if files > 1:
        raise ScribeError("--fhir-server: --patient and --encounter name one visit; give one recording at a time")


def _send_or_write(doc: dict, context, site, server: str | None, out: Path, source, document: bool = False) -> str:
    """File ``doc`` on the FHIR server (or write the transaction to ``out`` when there is
    none); the audit log records the export. Returns what to tell the user."""
    import hashlib
    import json

    from privacy.audit import AuditLog
    from scribe.fhir.document_reference import FhirValidationError
    from scribe.fhir.client import FhirClient, FhirServerError, IdentityError, build_transaction, filed_note, note_id

    server = server or site.fhir.server
    try:
        context.check()
        if server:
            client = FhirClient(server, site.fhir.token())
            response = client.send(doc, context, document=document)
            where, existed = filed_note(response)
            said = f"{source}: filed on {server} as {where}" + (" (already there; nothing new)" if existed else "")
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        else:
            from scribe.batch import outputs as writers

            bundle = build_transaction(doc, context, document=document)
            out.parent.mkdir(parents=True, exist_ok=True)
            writers.write_fhir(bundle, out)
            said = f"{source}: no FHIR server configured; transaction written to {out}"
            digest = hashlib.sha256(out.read_bytes()).hexdigest()
    except (IdentityError, FhirValidationError) as e:
        raise ScribeError(f"{source}: {e}; nothing was sent") from None
    except FhirServerError as e:
        raise FhirExportError(f"{source}: {e}") from None
    except OSError as e:
        raise OutputError(out, f"cannot write ({e.strerror or type(e).__name__})") from None
    AuditLog().record("note_exported", note_id(doc).removeprefix("urn:uuid:")[:64], sha256=digest, format="fhir")
    return said


@app.command()
def audit(
    verify_only: Annotated[bool, typer.Option("--verify", help="Only check the log's hash chain; exit 1 if broken.")] = False,
) -> None:
    """Print the audit log: what happened to each visit (times, durations, models,
    hashes of exported documents), never what was said. For a compliance review."""
    from privacy.audit import AuditLog, format_table

    _site_data_dir()
    log = AuditLog()
    problems = log.verify()
    if not verify_only:
        typer.echo(format_table(log.read(), problems))
    if problems:
        for problem in problems:
            typer.echo(f"error: {log.path}: {problem}", err=True)
        raise typer.Exit(1)
    if verify_only:
        typer.echo(f"{log.path}: intact")


@app.command()
def recover(
    visit_id: Annotated[Optional[str], typer.Argument(help="The interrupted visit to restore; omit to list them.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the restored audio and transcript.")] = Path("recovered"),
) -> None:
    """List visits a crash interrupted (standard mode), or restore one: its audio as
    VISIT.wav and its transcript lines as VISIT.txt in --out."""
    from privacy.audit import AuditLog

    try:
        _site_data_dir()
        store = open_store()
        if visit_id is None:
            found = store.interrupted()
            for v in found:
                typer.echo(f"{v.visit_id}  {v.created:%Y-%m-%d %H:%M}  {v.audio_seconds:.1f} s audio, "
                           f"{v.transcript_records} transcript line(s)")
            if not found:
                typer.echo("no interrupted visits")
            return
        summary = next((v for v in store.visits() if v.visit_id == visit_id), None)
        if summary is not None and summary.writer_alive:
            raise ScribeError(f"visit {visit_id}: still being recorded by a running scribe; not restored")
        visit = store.recover(visit_id)
        _check_writable(out)
        from scribe.batch import outputs as writers

        wav = _wav_bytes(visit.audio)
        _write_all(out, visit_id, Path(visit_id), {
            ".wav": lambda p: writers.write_bytes(wav, p),
            ".txt": lambda p: writers.write_text("".join(line + "\n" for line in visit.transcript), p),
        }, suffixes=(".wav", ".txt"))
        store.mark_recovered(visit_id)
        AuditLog().record("visit_recovered", visit_id, audio_seconds=round(visit.audio.size / 16000, 3))
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)
    typer.echo(f"restored visit {visit_id}: {visit.audio.size / 16000:.1f} s -> {out}/{visit_id}.wav, {out}/{visit_id}.txt")


@app.command()
def purge(
    older_than: Annotated[
        Optional[int], typer.Option("--older-than", min=0, help="Delete kept visits older than this many days (default: the config's retention_days).")
    ] = None,
) -> None:
    """Delete kept visits (standard mode) older than the retention period."""
    from datetime import timedelta

    from privacy.audit import AuditLog

    try:
        site = _site_data_dir()
        days = older_than if older_than is not None else site.retention_days
        if days is None:
            raise ScribeError("purge: give --older-than DAYS or set retention_days in the config file")
        removed = open_store().purge(timedelta(days=days))
        if removed:
            AuditLog().record("visits_purged", "*", visits=len(removed), reason="user_request")
    except ScribeError as e:
        _fail(e)
        raise typer.Exit(e.exit_code)
    typer.echo(f"deleted {len(removed)} visit(s) older than {days} day(s)")


def _site_data_dir():
    site = load_config()
    if site.data_dir is not None:
        os.environ.setdefault("SCRIBE_DATA_DIR", str(site.data_dir))
    return site


def _wav_bytes(audio) -> bytes:
    import io
    import wave

    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


if __name__ == "__main__":  # pragma: no cover
    app()
