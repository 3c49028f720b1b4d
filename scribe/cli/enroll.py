"""``scribe enroll``: a clinician's voiceprint, from ~20 s of the microphone or a file,
kept sealed under the site key until they delete it (``privacy.voiceprints``). The
``--clinician`` option transcribe, serve and record share is ``scribe.cli.app``'s."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import numpy as np
import typer

from scribe.cli.app import app, fail, site_data_dir
from scribe.errors import ScribeError, shown

if TYPE_CHECKING:
    from privacy.voiceprints import Voiceprint

@app.command()
def enroll(
    name: Annotated[Optional[str], typer.Option(help="The clinician's name, as the voiceprint is labelled.")] = None,
    file: Annotated[
        Optional[Path], typer.Option("--file", help="Enroll from a recording (any format scribe decodes) instead of the microphone.")
    ] = None,
    seconds: Annotated[float, typer.Option(min=10, max=120, help="Seconds to record from the microphone.")] = 20.0,
    device: Annotated[Optional[str], typer.Option(help="Input device (see `scribe record --list-devices`).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the enrolled voices (id, name, enrolled, model) and exit.")] = False,
    delete: Annotated[Optional[str], typer.Option("--delete", metavar="ID", help="Delete an enrolled voice; nothing of it is left.")] = None,
) -> None:
    """Enroll a clinician's voice, so visits know which speaker is the clinician.

    Records about 20 s from the microphone (read the text shown aloud), or takes --file,
    and keeps a voiceprint of it, sealed under the site key in the site's data folder,
    until `scribe enroll --delete ID`. The recording itself is never kept. Privacy mode
    keeps the voiceprint too: it is the site's configuration, not a visit's data.

    Exit codes: 0 done; 1 unknown id or store problem; 2 a file missing or unreadable,
    too little speech, or more than one voice; 4 the speaker model cannot load.
    """
    from privacy.voiceprints import VoiceprintStore
    from scribe.speakers.enrolled import delete_voice

    site_data_dir()
    store = VoiceprintStore()
    try:
        if list_:
            voices, unreadable = store.scan()
            if not voices and not unreadable:
                typer.echo("no voices enrolled")
            for v in voices:
                typer.echo(f"{v.id}  {shown(v.name)}  enrolled {v.created}  model {v.model}")
            for voice_id in unreadable:
                # Corrupt, or sealed under another site key: listed so IT can delete it.
                typer.echo(f"{voice_id}  unreadable (corrupt, or another site key; delete with --delete {voice_id})")
            return
        if delete is not None:
            delete_voice(delete, store)
            typer.echo(f"deleted {delete}")
            return
        if not name or not name.strip():
            raise ScribeError("--name: give the clinician's name (e.g. --name \"Dr Ada Smith\")")
        voice = _enroll(store, name, file, seconds, device)
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code) from None
    typer.echo(f"enrolled {voice.id} ({shown(voice.name)}, model {voice.model}); delete with: scribe enroll --delete {voice.id}")


def _enroll(store, name: str, file: Path | None, seconds: float, device: str | None) -> Voiceprint:
    from scribe.audio import VAD_BACKENDS
    from scribe.audio.decode import decode_audio
    from scribe.options import ScribeOptions
    from scribe.speakers.embedding import EmbeddingDiarizer
    from scribe.speakers.enrolled import enroll as enroll_audio

    if file is not None:
        audio = decode_audio(file)  # InputError (exit 2): missing, unreadable, not audio
        source = str(file)
    else:
        audio = _record(seconds, device)
        source = "microphone"
    try:
        options = ScribeOptions()
        diarizer = EmbeddingDiarizer.from_options(options)
        detector = VAD_BACKENDS.create(options.vad_backend, options)
    except BaseException:
        audio[:] = 0
        raise
    return enroll_audio(audio, name, diarizer, detector, source, store)


def _record(seconds: float, device: str | None) -> np.ndarray:
    """``seconds`` of the microphone as (n,) float32 at 16 kHz (in memory only)."""
    from scribe.live.microphone import Microphone, _to_16k
    from scribe.speakers.enrolled import ENROLLMENT_TEXT

    mic = Microphone(device)
    frames: queue.Queue = queue.Queue()
    pcm = bytearray()
    stream = mic.open(frames)
    typer.echo(f"Recording {seconds:.0f} s from {mic.name}. Read this aloud:\n\n  {ENROLLMENT_TEXT}\n", err=True)
    end = time.monotonic() + seconds
    try:
        while len(pcm) < seconds * 16000 * 2 and time.monotonic() < end + 5:
            try:
                frame = frames.get(timeout=0.25)
            except queue.Empty:
                continue
            data = _to_16k(frame, mic.rate)
            pcm += data
            data[:] = bytes(len(data))
            frame[:] = bytes(len(frame))
    finally:
        stream.stop()
        stream.close()
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    pcm[:] = bytes(len(pcm))
    return audio
