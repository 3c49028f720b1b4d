"""The ``scribe`` typer app: the top-level callback (``--version``, ``--verbose``), the
options several commands share, and the helpers every command uses to turn a problem
into one ``error: ...`` line and an exit code.

Commands live in modules by job (``transcribe``, ``draft``, ``live``, ``export``, ``site``) and
register themselves on ``app`` when ``scribe.cli`` imports them.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scribe import __version__
from scribe.config import ConfigError, FhirConfig, SiteConfig, config_path, load_config
from scribe.errors import InputError, OutputError, ScribeError, shown
from scribe.notes import DRAFTERS
from scribe.notes.base import is_model_drafter
from scribe.options import ScribeOptions as _Options
from scribe.registry import Registry, UnknownBackendError
from scribe.speakers import DIARIZERS
from scribe.speech import SPEECH_MODELS

if TYPE_CHECKING:
    from privacy.voiceprints import Voiceprint
    from scribe.fhir.client import ClinicalContext
    from scribe.options import ScribeOptions
    from scribe.pipeline import Pipeline

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
    # An empty $SCRIBE_DATA_DIR counts as unset (as privacy.paths.data_dir reads it), so
    # that the config's data_dir, applied only when the variable is unset, is not lost.
    if os.environ.get("SCRIBE_DATA_DIR") == "":
        del os.environ["SCRIBE_DATA_DIR"]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


class _OneLineFormatter(logging.Formatter):
    """Each log record's message as one printable line (``shown``): a path or a name
    carrying a newline, an escape sequence or a bidi override can neither forge a log line
    nor hide one, and bytes that are not UTF-8 are shown, not raised on (issue 12 item 12)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return self._style.format(_shown_record(record))


def _shown_record(record: logging.LogRecord) -> logging.LogRecord:
    copy = logging.makeLogRecord(record.__dict__)
    copy.message = shown(record.message)
    return copy


# Options the commands that file notes on the EHR share (transcribe, serve, export).
FhirServerOption = Annotated[
    Optional[str],
    typer.Option("--fhir-server", help="The EHR's FHIR R4 base URL (default: [fhir] server in the config). Its token: $SCRIBE_FHIR_TOKEN or [fhir] token_file, never an option."),
]
PatientOption = Annotated[Optional[str], typer.Option(help="The patient, as Patient/ID on the FHIR server.")]
PractitionerOption = Annotated[Optional[str], typer.Option(help="The clinician (author; signer of a signed note), as Practitioner/ID (default: the config's).")]
EncounterOption = Annotated[Optional[str], typer.Option(help="The visit, as Encounter/ID.")]
OrganizationOption = Annotated[Optional[str], typer.Option(help="The custodian, as Organization/ID (default: the config's).")]


# Backends by name (``scribe.registry``), shared by transcribe, serve and record. The
# registries list names only: importing them loads no model.
def _backend_help(what: str, registry: Registry) -> str:
    return f"{what} backend: {', '.join(registry.names())}."


SpeechOption = Annotated[str, typer.Option("--speech", help=_backend_help("Speech-recognition", SPEECH_MODELS))]
DiarizerOption = Annotated[
    str, typer.Option("--diarizer", help=_backend_help("Who-spoke-when (diarization)", DIARIZERS))
]
DiarizerModelOption = Annotated[
    Optional[str],
    typer.Option(
        "--diarizer-model",
        metavar="PATH",
        help="The model of --diarizer pyannote: a local pyannote.audio pipeline folder (config.yaml, "
        "segmentation/, embedding/, plda/). Default: [diarization] model in the config. Nothing is downloaded.",
        show_default=False,
    ),
]
DrafterOption = Annotated[
    Optional[str],
    typer.Option(
        "--drafter",
        help=_backend_help("Note-drafting", DRAFTERS) + " Default: [note] drafter in the config, else extractive.",
        show_default=False,
    ),
]
NoteModelOption = Annotated[
    Optional[str],
    typer.Option(
        "--note-model",
        metavar="PATH",
        help="The model of a model drafter (--drafter llm, audio-llm): a local transformers model folder "
        "(config.json, tokenizer or processor files, *.safetensors), or for llm one .gguf file. "
        "Default: [note] model in the config. Nothing is downloaded.",
        show_default=False,
    ),
]


class NoteDevice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class NoteDtype(str, Enum):
    auto = "auto"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


NoteDeviceOption = Annotated[
    Optional[NoteDevice],
    typer.Option(
        "--note-device",
        help="Where the note model runs: auto (cuda when torch sees a GPU, else cpu), cpu or cuda. "
        "Default: [note] device in the config, else auto.",
        show_default=False,
    ),
]
NoteDtypeOption = Annotated[
    Optional[NoteDtype],
    typer.Option(
        "--note-dtype",
        help="The note model's precision: auto (float32 on cpu, bfloat16 on cuda), float32, float16 or bfloat16. "
        "Default: [note] dtype in the config, else auto.",
        show_default=False,
    ),
]


def note_options(
    site: SiteConfig,
    drafter: str | None,
    model: str | None,
    device: NoteDevice | None,
    dtype: NoteDtype | None,
) -> dict[str, str | None]:
    """The note-drafting fields of ``ScribeOptions`` (``drafter``, ``note_model``,
    ``note_device``, ``note_dtype``): each option given, else the config's [note] key,
    else the default. A drafter name no backend has is refused before any model loads
    (``UnknownBackendError`` naming ``--drafter``, or ``ConfigError`` naming the config
    file when the name came from it; exit code 1)."""
    defaults = _Options()
    name = drafter or site.note.drafter or defaults.drafter
    try:
        DRAFTERS.check(name)
    except UnknownBackendError:
        if drafter is not None:
            raise
        choices = ", ".join(DRAFTERS.names())
        raise ConfigError(site.path or config_path(), f"note.drafter {name!r}: no such drafter backend (choose from: {choices})") from None
    if model is not None and not is_model_drafter(DRAFTERS.resolve(name)):
        # Said, not ignored: a site that names a model expects the note drafted by it.
        raise UnknownBackendError(
            f"--note-model is the model of a model drafter (--drafter llm or audio-llm); the drafter is {name}"
        )
    return {
        "drafter": name,
        "note_model": model or site.note.model,
        "note_device": device.value if device is not None else site.note.device or defaults.note_device,
        "note_dtype": dtype.value if dtype is not None else site.note.dtype or defaults.note_dtype,
    }


def diarizer_options(site: SiteConfig, diarizer: str, model: str | None) -> dict[str, str | None]:
    """The diarization fields of ``ScribeOptions`` (``diarizer``, ``diarizer_model``):
    ``--diarizer-model``, else the config's [diarization] model. A model given for a
    diarizer that takes none is refused (``UnknownBackendError``, exit code 1)."""
    DIARIZERS.check(diarizer)
    if model is not None and diarizer != "pyannote":
        # Said, not ignored: a site that names a model expects the visit diarized by it.
        raise UnknownBackendError(f"--diarizer-model is the model of --diarizer pyannote; the diarizer is {diarizer}")
    return {"diarizer": diarizer, "diarizer_model": model or site.diarization.model}


def check_backends(speech: str, diarizer: str, drafter: str) -> None:
    """Refuse an unknown backend name before any model loads: raises
    ``UnknownBackendError`` (one line naming the option and the choices; exit code 1)."""
    SPEECH_MODELS.check(speech)
    DIARIZERS.check(diarizer)
    DRAFTERS.check(drafter)


def fail(error: ScribeError) -> None:
    """Print ``error`` as the one line a user sees: ``error: <message>`` on stderr."""
    typer.echo(f"error: {error}", err=True)


class BatchProgress:
    """How far a batch got, for the line an interrupt prints: ``total`` inputs (None
    until the batch starts, after its models load) and ``done`` of them."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0


# The journal's warning for a standard-mode visit closed part-way (privacy.journal). On an
# interrupt, the one line the user sees says it instead, so it is held back without -v.
_KEPT_MESSAGE = "visit %s closed without completing"


@contextmanager
def interruptible(noun: str) -> Iterator[BatchProgress]:
    """Ctrl+C (SIGINT) or SIGTERM (a service manager's stop, ``kill``) anywhere in a
    batch command: one line saying how far it got (``interrupted: 1 of 3 recording(s)
    done; the one in progress was not written``, or ``interrupted before any recording
    was processed`` while models load) and exit 128 + the signal's number (130, 143: the
    shell's convention), never a traceback or a silent stop.

    ``noun``: what the batch processes (``recording``). Yields a ``BatchProgress`` the
    command sets ``total`` of when the batch starts and counts finished inputs in. Both
    signals unwind the stack as ``KeyboardInterrupt``, so the visit in progress closes
    through its context: its keys destroyed, its outputs not written (all-or-nothing,
    ``batch.files.write_all``). A standard-mode visit that had kept something stays in
    the store for ``scribe recover`` (privacy.visit), and the line says so, naming it.
    A second signal while the visit closes is ignored: the closing must finish."""
    progress = BatchProgress()
    caught: list[int] = []
    kept: list[str] = []

    def on_signal(signum: int, frame: object) -> None:
        if caught:
            return
        caught.append(signum)
        raise KeyboardInterrupt

    verbose = logging.getLogger().isEnabledFor(logging.INFO)

    def kept_visits(record: logging.LogRecord) -> bool:
        if caught and record.msg == _KEPT_MESSAGE and record.args:
            kept.append(str(record.args[0]))  # type: ignore[index]
            return verbose
        return True

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:  # a background job's SIGINT stays ignored
                previous[signum] = signal.signal(signum, on_signal)
    journal = logging.getLogger("scribe.privacy.journal")
    journal.addFilter(kept_visits)
    try:
        yield progress
    except KeyboardInterrupt:
        signum = caught[0] if caught else signal.SIGINT
        head = "interrupted" if signum == signal.SIGINT else f"interrupted by {signal.Signals(signum).name}"
        if progress.total is None:
            line = f"{head} before any {noun} was processed"
        else:
            line = f"{head}: {progress.done} of {progress.total} {noun}(s) done"
            if progress.done < progress.total:
                line += "; the one in progress was not written"
            if kept:
                line += f" (its visit {', '.join(kept)} is kept, encrypted: see scribe recover)"
        typer.echo(line, err=True)
        raise typer.Exit(128 + signum) from None
    finally:
        journal.removeFilter(kept_visits)
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def end_batch(failures: list[ScribeError], inputs: int) -> None:
    """After a batch whose failures were each printed as they happened: the last line
    counting them (``2 of 12 input(s) failed``) and the exit with the highest of their
    codes; nothing when none failed."""
    if failures:
        typer.echo(f"{len(failures)} of {inputs} input(s) failed", err=True)
        raise typer.Exit(max(f.exit_code for f in failures))


def check_writable(out: Path) -> None:
    """Create ``out`` if missing and prove a file can be made in it, before any model
    loads. Raises ``OutputError`` (exit code 3)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise OutputError(out, f"output folder is not writable ({e.strerror or type(e).__name__})") from None


def vocabulary(value: str | None) -> str | None:
    """``--vocabulary``: terms separated by commas or newlines, or ``@FILE`` of them, as
    the one prompt sentence Whisper is given ("a, b, c."); None when there are none.
    Raises ``InputError`` (exit code 2) when the file cannot be read."""
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


def load_pipeline(options: ScribeOptions) -> Pipeline:
    """Load every model ``options`` names. Raises ``ScribeError`` (template, exit 1) or
    ``ModelError`` (exit 4)."""
    from scribe.pipeline import Pipeline

    return Pipeline(options)


def site_data_dir() -> SiteConfig:
    """The site config, with its data folder (if it names one and ``$SCRIBE_DATA_DIR`` is
    unset or empty) made the process's ``$SCRIBE_DATA_DIR`` for the audit log and visit
    store; the data folder and audit log checked usable (``AuditLog.check``).

    A bad config or setup is reported here, as one ``error: ...`` line, and ends the
    command with the error's exit code (``typer.Exit``; 1)."""
    from privacy.audit import AuditLog

    try:
        site = load_config()
        if site.data_dir is not None and not os.environ.get("SCRIBE_DATA_DIR"):
            os.environ["SCRIBE_DATA_DIR"] = str(site.data_dir)
        AuditLog().check()
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code) from None
    return site


def clinical_context(
    site: SiteConfig,
    patient: str | None,
    practitioner: str | None,
    encounter: str | None,
    organization: str | None,
) -> ClinicalContext:
    """Who a note is about, by and for: the options, else the config's practitioner and
    organization. Not checked here (``ClinicalContext.check``)."""
    from scribe.fhir.client import ClinicalContext

    return ClinicalContext(
        patient=patient,
        practitioner=practitioner or site.fhir.practitioner,
        encounter=encounter,
        organization=organization or site.fhir.organization,
    )


def fhir_destination(site: SiteConfig, server: str | None) -> FhirConfig | None:
    """The site's FHIR settings with ``server`` (option or config), opened in the network
    guard: the one destination a note may be exported to. None when there is none.
    Raises ``ScribeError`` (exit code 1) for a URL the guard refuses."""
    from privacy.policy import allow_destination

    server = server or site.fhir.server
    if not server:
        return None
    try:
        allow_destination(server)
    except ValueError as e:
        raise ScribeError(f"--fhir-server: {e}") from None
    return replace(site.fhir, server=server)


def check_identity(context: ClinicalContext, files: int) -> None:
    """Before hours of processing, not after: a note to be filed needs its patient,
    practitioner, encounter and organization, and they name one visit. Raises
    ``ScribeError`` (exit code 1)."""
    from scribe.fhir.client import IdentityError

    try:
        context.check()
    except IdentityError as e:
        raise ScribeError(f"--fhir-server: {e}") from None
    if files > 1:
        raise ScribeError("--fhir-server: --patient and --encounter name one visit; give one recording at a time")


# --clinician, shared by transcribe, serve and record (``scribe enroll`` manages the voices).
ClinicianOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--clinician",
        metavar="ID",
        help="An enrolled clinician's voice to recognise (an id from `scribe enroll --list`; repeat for several). "
        "Default: every voice enrolled at this site; none enrolled: roles from the words alone.",
        show_default=False,
    ),
]


def clinician_voices(ids: list[str] | None, diarizer: str | None = None) -> list[Voiceprint]:
    """The voices ``--clinician`` names, else every voice enrolled at the site that opens
    (an unreadable one is skipped with a WARNING naming its id). Raises ``ScribeError``
    (one line naming the id, exit code 1) for a named id not enrolled or unreadable, or
    for ``--clinician`` with a ``diarizer`` that cannot use enrolled voices."""
    from scribe.speakers.enrolled import VOICE_DIARIZERS, load_voices

    if ids and diarizer is not None and diarizer not in VOICE_DIARIZERS:
        raise ScribeError(f"--clinician: the {diarizer} diarizer cannot use enrolled voices (use --diarizer embedding)")
    try:
        return load_voices(list(ids) if ids else None)
    except ScribeError as e:
        raise ScribeError(f"--clinician: {e}") from None
