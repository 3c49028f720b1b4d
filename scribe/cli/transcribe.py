"""``scribe transcribe``: recorded visits to transcripts, draft notes and FHIR documents,
one visit per recording, through the local batch runner (``scribe.batch.runner``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scribe.cli.app import (
    ClinicianOption,
    EncounterOption,
    FhirServerOption,
    OrganizationOption,
    PatientOption,
    PractitionerOption,
    DiarizerModelOption,
    DiarizerOption,
    DrafterOption,
    NoteDeviceOption,
    NoteDtypeOption,
    NoteModelOption,
    SpeechOption,
    app,
    check_backends,
    diarizer_options,
    check_identity,
    check_writable,
    clinical_context,
    end_batch,
    interruptible,
    fail,
    fhir_destination,
    load_pipeline,
    note_options,
    vocabulary as read_vocabulary,
    clinician_voices,
)
from scribe.cli.languages import LanguagesOption, NoteLanguageOption, language_options
from scribe.config import load_config
from scribe.errors import ScribeError, shown
from scribe.options import ScribeOptions, split_terms

if TYPE_CHECKING:
    from scribe.pipeline import Progress


DEFAULTS = ScribeOptions()


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


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
        Optional[str],
        typer.Option(help="The one language spoken throughout the visit (en, es, fr, ...). Default: English with an "
                     "English-only model; with --model base each segment's language is detected (see --languages)."),
    ] = None,
    note_language: NoteLanguageOption = None,
    languages: LanguagesOption = None,
    device: Annotated[Device, typer.Option(help="Where the speech model runs.")] = Device.cpu,
    vocabulary: Annotated[
        Optional[str],
        typer.Option(help="Clinical terms to expect (drug names, conditions), comma-separated, or @FILE (added to the config's [recognition] terms)."),
    ] = None,
    privacy: Annotated[
        Optional[bool],
        typer.Option(
            "--privacy/--no-privacy",
            help="Privacy mode (default, or as the config file says): only the note's documents are written; "
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
    speech: SpeechOption = DEFAULTS.speech,
    diarizer: DiarizerOption = DEFAULTS.diarizer,
    diarizer_model: DiarizerModelOption = None,
    drafter: DrafterOption = None,
    note_model: NoteModelOption = None,
    note_device: NoteDeviceOption = None,
    note_dtype: NoteDtypeOption = None,
    clinician: ClinicianOption = None,
    ray: Annotated[
        Optional[str],
        typer.Option(
            "--ray",
            metavar="local|auto|ADDRESS",
            help="Spread the recordings over a Ray cluster (pip install 'scribe[ray]'): 'local' starts one on this "
            "machine (loopback only), 'auto' joins the running one, HOST:PORT that one. A cluster beyond this machine "
            "needs Ray's TLS (RAY_USE_TLS=1 and its certificate variables). Inputs and --out must be on storage every "
            "node sees at the same path. Recordings whose outputs are complete in --out are skipped.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option("--workers", min=1, help="With --ray: worker processes, each with its own models (default: one per CPU of the cluster).",
                     show_default=False),
    ] = None,
) -> None:
    """Transcribe recorded visits and draft their notes.

    For each recording NAME, writes into --out: NAME.note.md (the draft note, for clinician review), NAME.note.json (the note for machines: sections, sentences with their evidence ids, omissions, drafter), NAME.fhir.json (a FHIR R4 DocumentReference carrying the note) and, when the note has patient instructions, NAME.instructions.md and NAME.instructions.fhir.json. With --no-privacy also NAME.transcript.json (segments with start, end, speaker, role, text and word times), NAME.rttm and NAME.vtt.

    With --fhir-server (or [fhir] server in the config), each note (and its patient instructions) is also sent to the EHR as draft (preliminary), for --patient/--encounter (one visit's identity: give one recording at a time).

    Exit codes: 0 all processed; 1 template or FHIR problem, identity missing, or a language option that is not a code; 2 an input missing, unreadable, empty, corrupt or truncated; 3 results cannot be written; 4 speech model, --language, --languages or --note-language (a language the model or drafter lacks), diarizer model (--diarizer pyannote, --diarizer-model) or note model (--note-model) problem; 5 a recording holds no speech; 6 the FHIR server refused a note; 7 the Ray cluster cannot be used (--ray: not reachable, beyond this machine without TLS, no worker left). With several failures, the highest.
    """
    with interruptible("recording") as progress:  # Ctrl+C or SIGTERM wherever it lands: one line
        from scribe.batch.export import FhirExport
        from scribe.batch.runner import expand_inputs, run_local
        from scribe.visits import VisitFactory

        jobs, failures = expand_inputs(inputs)
        for error in failures:
            fail(error)
        unreadable = len(failures)  # inputs that never reached the pipeline
        try:
            site = load_config()
            privacy_on = site.privacy if privacy is None else privacy
            note = note_options(site, drafter, note_model, note_device, note_dtype)
            check_backends(speech, diarizer, note["drafter"])
            diarization = diarizer_options(site, diarizer, diarizer_model)
            langs = language_options(site, note_language, languages)
            check_writable(out)
            options = ScribeOptions(
                speech=speech,
                **diarization,
                **note,
                **langs,
                model=model,
                language=language,
                device=device.value,
                vocabulary=site.recognition.prompt(split_terms(read_vocabulary(vocabulary))),
                speakers=speakers,
                template=template,
            )
            server = fhir_server or site.fhir.server
            if workers is not None and ray is None:
                raise ScribeError("--workers: the number of Ray workers; give --ray too (a local run uses one process)")
            if ray is not None and server:
                raise ScribeError("--ray: notes are not filed on the EHR from a cluster batch; send them after it with scribe export")
            if ray is not None:
                clinician_voices(clinician, options.diarizer)  # a named voice that is not enrolled: one line, now
        except ScribeError as e:
            fail(e)
            raise typer.Exit(e.exit_code)
        if ray is not None:
            from scribe.cli.ray_batch import transcribe_on_ray

            transcribe_on_ray(jobs, failures, unreadable, address=ray, workers=workers, out=out, options=options,
                              privacy=privacy_on, clinicians=clinician, progress=progress)
            return
        try:
            context = clinical_context(site, patient, practitioner, encounter, organization)
            if server:
                check_identity(context, len(jobs))  # before hours of processing, not after
            visits = VisitFactory.start(privacy_on, site)
            fhir = fhir_destination(site, server)
            export = FhirExport(context, fhir) if fhir is not None else None
            voices = clinician_voices(clinician, options.diarizer)
            pipeline = load_pipeline(options) if jobs else None
            if pipeline is not None:
                pipeline.voices = tuple(voices)
        except ScribeError as e:
            fail(e)
            raise typer.Exit(e.exit_code)
        outcomes = run_local(pipeline, jobs, out=out, visits=visits, export=export, progress=_progress) if pipeline is not None else ()
        progress.total = len(jobs)
        for outcome in outcomes:
            progress.done += 1
            done = outcome.outputs
            if done is not None and done.has_speech:
                result = done.result
                kept = "privacy mode: nothing else kept" if privacy_on else f"visit {outcome.visit_id} kept, encrypted"
                typer.echo(
                    f"{shown(outcome.job.path)}: {result.transcript.duration:.1f} s, {len(result.annotation.labels())} speaker(s), "
                    f"{len(result.transcript.segments)} line(s) -> {', '.join(shown(p) for p in done.paths)} ({kept})"
                )
                for receipt in done.receipts:
                    typer.echo(receipt.message)
            for error in outcome.errors:
                failures.append(error)
                fail(error)
        end_batch(failures, len(jobs) + unreadable)


@contextmanager
def _progress(path: Path) -> Iterator[Progress | None]:
    # A progress bar only on a terminal: in a log or a pipe it would be noise around the
    # one line each file gets.
    if not sys.stderr.isatty():
        yield None
        return
    with typer.progressbar(length=1000, label=path.name, file=sys.stderr, show_eta=False) as bar:
        done = [0]

        def progress(seconds: float, total: float | None) -> None:
            target = int(1000 * min(seconds / total, 1.0)) if total else done[0]
            bar.update(target - done[0])
            done[0] = target

        yield progress
        bar.update(1000 - done[0])
