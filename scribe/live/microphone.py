"""The machine's microphone through PortAudio (sounddevice), for ``scribe record``.

Frames go from PortAudio's callback thread to the recording loop through a queue, as
16 kHz mono PCM16 (resampled when the device cannot run at 16 kHz), and into the same
``StreamingSession`` the capture service uses. Each frame's plaintext is zeroed once the
session has taken it (privacy mode keeps audio only in the visit's encrypted buffer).

With a model drafter (``scribe.live.drafting``) the visit is captured with the embedded
drafter and, at the stop, the model drafts the note once from the final transcript (and
the visit's audio, for a drafter that listens), its progress announced; if it fails, the
embedded drafter's note is written instead.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
from collections.abc import Callable
from math import gcd

import numpy as np

from scribe.audio import SAMPLE_RATE
from scribe.errors import InputError
from scribe.pipeline import Pipeline, VisitResult, VisitSink
from scribe.live.drafting import ModelDraft, live_pipeline
from scribe.live.streaming import StreamingSession

logger = logging.getLogger("scribe.live.microphone")


class MicrophoneError(InputError):
    """No usable microphone: missing, busy, or PortAudio itself missing. Exit code 2."""


def _sd():
    try:
        import sounddevice
    except OSError:  # the Python package is there, the PortAudio library is not
        raise MicrophoneError("microphone", "PortAudio is not installed (Debian/Ubuntu: apt install libportaudio2)") from None
    return sounddevice


def _inputs(sd) -> list[tuple[int, dict]]:
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as e:
        raise MicrophoneError("microphone", f"cannot list audio devices ({e})") from None
    return [(i, d) for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def describe_inputs() -> list[str]:
    sd = _sd()
    found = _inputs(sd)
    if not found:
        return ["no input devices"]
    return [f"{i}: {d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)" for i, d in found]


class Microphone:
    """An input device, checked to exist and to take mono input; ``rate`` is 16 kHz if
    the device supports it, its default rate otherwise."""

    def __init__(self, device: str | None = None):
        sd = self._sd = _sd()
        inputs = _inputs(sd)
        label = f"microphone {device!r}" if device is not None else "microphone"
        if not inputs:
            raise MicrophoneError(label, "no input device found (is a microphone connected?)")
        wanted: int | str | None = int(device) if device is not None and device.isdigit() else device
        try:
            info = sd.query_devices(wanted, kind="input")
        except (ValueError, sd.PortAudioError):
            names = ", ".join(f"{i}: {d['name']}" for i, d in inputs)
            raise MicrophoneError(label, f"not found among the input devices ({names})") from None
        self.index = next((i for i, d in inputs if d["name"] == info["name"]), wanted)
        self.name = info["name"]
        try:
            sd.check_input_settings(self.index, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
            self.rate = SAMPLE_RATE
        except (ValueError, sd.PortAudioError):
            self.rate = int(info["default_samplerate"])
        logger.info("microphone %s at %d Hz", self.name, self.rate)

    def open(self, frames: queue.Queue):
        """A started input stream putting 100 ms PCM16 frames (bytearrays) on ``frames``."""
        sd = self._sd
        overflows = [0]

        def callback(indata, n, when, status):
            if status.input_overflow:
                overflows[0] += 1
            frames.put(bytearray(indata))

        try:
            stream = sd.RawInputStream(
                device=self.index, samplerate=self.rate, channels=1, dtype="int16",
                blocksize=self.rate // 10, callback=callback,
            )
            stream.start()
        except sd.PortAudioError as e:
            raise MicrophoneError(f"microphone {self.name!r}", f"busy or unavailable ({e})") from None
        stream.overflows = overflows
        return stream


def _to_16k(pcm: bytearray, rate: int) -> bytearray:
    if rate == SAMPLE_RATE:
        return pcm
    from scipy.signal import resample_poly

    g = gcd(rate, SAMPLE_RATE)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    y = resample_poly(x, SAMPLE_RATE // g, rate // g)
    out = bytearray(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes())
    x[:] = 0
    y[:] = 0
    return out


def record_visit(
    pipeline: Pipeline,
    mic: Microphone,
    visit: VisitSink | None,
    *,
    seconds: float | None = None,
    echo: Callable[[float, int, str], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> VisitResult:
    """Capture until Ctrl+C / SIGTERM (or ``seconds`` of audio), echoing each committed
    line; then finish the visit as batch does. Audio already captured is always
    processed: a stop drains what the device delivered before it.

    ``visit`` keeps the audio and lines (``privacy.visit.Visit``; None keeps nothing);
    ``echo(start_seconds, voice_number, text)`` is called per committed line (a line
    said in another language than the note's: ``(es) words said = en: translation``) and
    ``announce(message)`` once capture starts, and as a model drafter drafts (default: to
    stderr). Raises ``MicrophoneError`` (exit code 2) if the device cannot be opened."""
    say = announce or (lambda m: print(m, file=sys.stderr, flush=True))
    capture, model = live_pipeline(pipeline)
    session = StreamingSession(capture, visit=visit)
    frames: queue.Queue = queue.Queue()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    voices: dict[str, int] = {}

    def feed(pcm: bytearray) -> None:
        data = _to_16k(pcm, mic.rate)
        for line in session.feed(bytes(data)):
            seg = line.segment
            voice = voices.setdefault(seg.speaker or "?", len(voices) + 1)
            if echo:
                echo(seg.start, voice, _shown_line(seg, capture.options.note_language))
        data[:] = bytes(len(data))  # zero the plaintext frame
        pcm[:] = bytes(len(pcm))

    stream = mic.open(frames)
    say(f"Recording from {mic.name} ({mic.rate} Hz). Press Ctrl+C to stop and write the note.")
    try:
        while not stop.is_set():
            try:
                pcm = frames.get(timeout=0.25)
            except queue.Empty:
                continue
            feed(pcm)
            if seconds is not None and session.received >= seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        stream.stop()
        stream.close()
        signal.signal(signal.SIGTERM, previous)
    while not frames.empty():  # what the device delivered before the stop
        feed(frames.get_nowait())
    if stream.overflows[0]:
        logger.warning("microphone: %d input overflow(s); some audio was dropped by the device", stream.overflows[0])
    result = session.finish()
    if model is None or not result.transcript.segments:
        return result
    return model_draft(pipeline, result, visit, say)


def model_draft(pipeline: Pipeline, result: VisitResult, visit: VisitSink | None,
                say: Callable[[str], None]) -> VisitResult:
    """``result`` (captured with the embedded drafter) with ``pipeline``'s model drafter's
    note, drafted now from its final transcript (and ``visit``'s audio for a drafter
    that listens); progress and a failure are ``say``-ed in one line each, a failure
    keeping the embedded note. A model that drafts no patient instructions keeps the
    embedded note's."""
    from dataclasses import replace
    from time import perf_counter

    job = ModelDraft(pipeline.drafter, result.transcript, pipeline.template, _audio_of(visit))
    say(f"Drafting the note with {job.name} ({job.model})…")
    t0 = perf_counter()
    note = job.run(lambda done, total: say(f"Drafting with {job.name} ({job.model})… {done}/{total}"))
    if note is None:
        say(f"{job.error or 'drafting failed'}; the note is the embedded drafter's")
        return result
    if not note.instructions:  # a model that drafts no patient instructions keeps the first draft's
        note = replace(note, instructions=result.note.instructions)
    timings = {**result.timings, "model_draft": perf_counter() - t0}
    return replace(result, note=note, options=pipeline.options, models=pipeline.models, timings=timings)


def _audio_of(visit: VisitSink | None):
    from scribe.live.drafting import audio_source

    return audio_source(visit) if visit is not None else None


def _shown_line(seg, note_language: str) -> str:
    """A committed line as the terminal shows it: its words, and when said in another
    language than the note's, that language and the translation beside them."""
    if not seg.language or seg.language == note_language:
        return seg.text
    translated = f"{note_language}: {seg.translation}" if seg.translation else f"no {note_language} translation"
    return f"({seg.language}) {seg.text} = {translated}"
