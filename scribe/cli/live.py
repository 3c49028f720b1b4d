"""Live visits from the command line: ``scribe serve`` (the capture service and its
recorder page) and ``scribe record`` (this machine's microphone, no browser)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from scribe.cli.app import (
    ClinicianOption,
    DiarizerModelOption,
    DiarizerOption,
    DrafterOption,
    FhirServerOption,
    NoteDeviceOption,
    NoteDtypeOption,
    NoteModelOption,
    SpeechOption,
    app,
    check_backends,
    diarizer_options,
    check_writable,
    fail,
    fhir_destination,
    load_pipeline,
    note_options,
    vocabulary as read_vocabulary,
    clinician_voices,
)
from scribe.cli.languages import LanguagesOption, NoteLanguageOption, language_options
from scribe.config import load_config
from scribe.errors import NoSpeechError, OutputError, ScribeError
from scribe.options import ScribeOptions, split_terms

DEFAULTS = ScribeOptions()

# Options `serve` and `record` share (the live recorders).
LiveModelOption = Annotated[str, typer.Option(help="Speech model: 'tiny.en', 'base', or a CTranslate2 Whisper folder.")]
LiveLanguageOption = Annotated[
    Optional[str],
    typer.Option(help="The one language spoken throughout each visit (en, es, ...). Default: English with an English-only "
                 "model; with --model base each segment's language is detected (see --languages)."),
]
LiveVocabularyOption = Annotated[
    Optional[str], typer.Option(help="Clinical terms to expect, comma-separated, or @FILE (added to the config's [recognition] terms).")
]
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
    note_language: NoteLanguageOption = None,
    languages: LanguagesOption = None,
    vocabulary: LiveVocabularyOption = None,
    privacy: LivePrivacyOption = None,
    fhir_server: FhirServerOption = None,
    speech: SpeechOption = DEFAULTS.speech,
    diarizer: DiarizerOption = DEFAULTS.diarizer,
    diarizer_model: DiarizerModelOption = None,
    drafter: DrafterOption = None,
    note_model: NoteModelOption = None,
    note_device: NoteDeviceOption = None,
    note_dtype: NoteDtypeOption = None,
    clinician: ClinicianOption = None,
) -> None:
    """Start the capture service and its recorder page on this machine (127.0.0.1 only).

    Prints the URL to open: it carries this install's access token (kept in a 0600 file
    in the site data folder). Stop with Ctrl+C: open visits are discarded.
    """
    from scribe.service.access import load_or_create_token
    from scribe.service.capture import CaptureService
    from scribe.service.server import bind
    from scribe.service.server import serve as run
    from scribe.visits import VisitFactory

    try:
        site = load_config()
        privacy_on = site.privacy if privacy is None else privacy
        note = note_options(site, drafter, note_model, note_device, note_dtype)
        check_backends(speech, diarizer, note["drafter"])
        diarization = diarizer_options(site, diarizer, diarizer_model)
        langs = language_options(site, note_language, languages)
        options = ScribeOptions(
            speech=speech, **diarization, **note, **langs,
            model=model, language=language, template=template,
            vocabulary=site.recognition.prompt(split_terms(read_vocabulary(vocabulary))),
        )
        try:
            sock = bind(port)
        except OSError as e:
            raise OutputError(f"127.0.0.1:{port}", f"cannot listen ({e.strerror or type(e).__name__}); try another --port") from None
        visits = VisitFactory.start(privacy_on, site)
        fhir = fhir_destination(site, fhir_server)
        token = load_or_create_token()
        clinician_voices(clinician, options.diarizer)  # ids checked now; each visit loads its voices when it opens
        service = CaptureService(load_pipeline(options), visits, token=token, fhir=fhir)
        service.clinicians = tuple(clinician) if clinician else None
    except ScribeError as e:
        fail(e)
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
    note_language: NoteLanguageOption = None,
    languages: LanguagesOption = None,
    vocabulary: LiveVocabularyOption = None,
    privacy: LivePrivacyOption = None,
    speech: SpeechOption = DEFAULTS.speech,
    diarizer: DiarizerOption = DEFAULTS.diarizer,
    diarizer_model: DiarizerModelOption = None,
    drafter: DrafterOption = None,
    note_model: NoteModelOption = None,
    note_device: NoteDeviceOption = None,
    note_dtype: NoteDtypeOption = None,
    clinician: ClinicianOption = None,
) -> None:
    """Record a visit from this machine's microphone, without a browser.

    Shows the transcript as it is spoken; at Ctrl+C (or after --seconds) drafts the note
    and writes it into --out as `transcribe` does (privacy mode: the note's documents
    only: NAME.note.md, NAME.note.json, NAME.fhir.json, and NAME.instructions.md and
    NAME.instructions.fhir.json when there are patient instructions). Exit codes as for `transcribe`; 2 also for a missing or busy
    microphone.
    """
    from scribe.batch.runner import discarded
    from scribe.batch.visit import write_visit_outputs
    from scribe.live import microphone
    from scribe.visits import VisitFactory

    try:
        if list_devices:
            for line in microphone.describe_inputs():
                typer.echo(line)
            return
        site = load_config()
        privacy_on = site.privacy if privacy is None else privacy
        note = note_options(site, drafter, note_model, note_device, note_dtype)
        check_backends(speech, diarizer, note["drafter"])
        diarization = diarizer_options(site, diarizer, diarizer_model)
        langs = language_options(site, note_language, languages)
        check_writable(out)
        options = ScribeOptions(
            speech=speech, **diarization, **note, **langs,
            model=model, language=language, template=template,
            vocabulary=site.recognition.prompt(split_terms(read_vocabulary(vocabulary))),
        )
        uri = name or datetime.now().strftime("visit-%Y%m%d-%H%M%S")
        mic = microphone.Microphone(device)  # checked before the models load
        visits = VisitFactory.start(privacy_on, site)
        voices = clinician_voices(clinician, options.diarizer)
        pipeline = load_pipeline(options)
        pipeline.voices = tuple(voices)
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code)
    try:
        with visits.open() as visit:
            result = microphone.record_visit(pipeline, mic, visit, seconds=seconds, echo=_echo_line)
            if not result.transcript.segments:
                raise NoSpeechError(f"microphone {mic.name}", "no speech was captured")
            written = write_visit_outputs(result, source=Path(mic.name), uri=uri, out=out, visit=visit)
    except ScribeError as e:
        error = discarded(e) if privacy_on else e
        fail(error)
        raise typer.Exit(error.exit_code)
    kept = "privacy mode: audio and transcript destroyed" if privacy_on else f"visit {visit.visit_id} kept, encrypted"
    typer.echo(
        f"{result.transcript.duration:.1f} s, {len(result.annotation.labels())} speaker(s), "
        f"{len(result.transcript.segments)} line(s) -> {', '.join(str(p) for p in written.paths)} ({kept})",
        err=True,
    )


def _echo_line(start: float, voice: int, text: str) -> None:
    typer.echo(f"[{int(start) // 60}:{int(start) % 60:02d}] voice {voice}: {text}")
