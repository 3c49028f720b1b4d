"""Decode any recording to 16 kHz mono float32, in memory, block by block.

PyAV (FFmpeg's libraries, already a faster-whisper dependency) reads wav, flac, mp3,
m4a/aac, ogg/opus and the audio of video containers without an ffmpeg subprocess or a
temp file. Decoding is a generator of fixed-size blocks so a two-hour visit never sits
in memory whole: the pipeline holds one block at a time.

Truncation is judged from what the file itself says, never from a length FFmpeg
estimates: the decoder's own errors (a cut FLAC or AAC stream fails to decode, a cut
MP4 has no index), a length the container states exactly (``AudioInfo.declared_exact``:
the RIFF header's data size, an MP3's Xing/Info/VBRI frame count, FLAC, MP4, Matroska,
Ogg), and for MP3 the last frame, which must be as long as its header says
(``scribe.audio.mpeg``). A VBR MP3 without a length tag decodes to 79.4 s where FFmpeg
estimates 98.6 s from its first frame's bitrate; it is read whole, not refused.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from privacy import SAMPLE_RATE  # 16 kHz, defined once in the bottom layer
from scribe.audio import mpeg
from scribe.audio.condition import downmix
from scribe.errors import InputError, not_found

logger = logging.getLogger("scribe.audio.decode")

# A file whose decodable audio is this much shorter than its header declares is treated
# as truncated: silently transcribing half a visit would mislead the clinician.
_TRUNCATION_TOLERANCE = 0.95

# Containers whose duration is their own exact statement (a sample count, an index, the
# last page's position), not FFmpeg's estimate from a bitrate: only these are compared
# with what decodes. MP3 is one only with a length tag (``mpeg.has_length_tag``); raw
# AAC (ADTS) never is.
_EXACT_LENGTH = {"wav", "flac", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "ogg", "aiff", "caf", "w64"}


@dataclass(frozen=True)
class AudioInfo:
    path: str
    codec: str
    container: str
    declared_duration: float | None  # seconds, as FFmpeg reports it (may be an estimate)
    sample_rate: int  # of the source
    channels: int
    # declared_duration is the container's exact statement, so a shorter decode is a cut
    # file; False for FFmpeg's estimates from a bitrate (MP3 without a length tag, ADTS).
    declared_exact: bool = False


def probe(path: str | os.PathLike) -> AudioInfo:
    """Open the file, check it holds an audio stream, and describe it."""
    p = Path(path)
    if not p.exists():
        raise not_found(p)
    if p.is_dir():
        raise InputError(p, "is a folder, not an audio file")
    try:
        st = p.stat()
    except OSError as e:
        raise InputError(p, f"cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(p, "not a regular file")
    if st.st_size == 0:
        raise InputError(p, "file is empty")
    try:
        with av.open(str(p), metadata_errors="ignore") as container:
            streams = container.streams.audio
            if not streams:
                raise InputError(p, "no audio stream in this file")
            s = streams[0]
            declared = None
            if s.duration is not None and s.time_base is not None:
                declared = float(s.duration * s.time_base)
            elif container.duration is not None:
                declared = container.duration / av.time_base
            # FFmpeg estimates a WAV's duration from the file's size, which hides a cut
            # file; the RIFF header's data size says what the recorder wrote. Comparing
            # the two finds a cut WAV before any time is spent transcribing it.
            if container.format.name == "wav":
                in_header = _riff_duration(p)
                if in_header and declared and _is_short(declared, in_header):
                    raise InputError(p, _truncated(in_header, declared))
                declared = in_header or declared
            name = container.format.name
            exact = name in _EXACT_LENGTH or (name == "mp3" and mpeg.has_length_tag(p))
            return AudioInfo(
                path=str(p),
                codec=s.codec_context.name,
                container=container.format.name,
                declared_duration=declared,
                sample_rate=s.codec_context.sample_rate or 0,
                channels=s.codec_context.channels or 0,
                declared_exact=exact and declared is not None,
            )
    except InputError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InputError(p, f"not a readable audio file ({_reason(e)})") from None


def iter_blocks(
    source: str | os.PathLike | AudioInfo, block_seconds: float = 600.0
) -> Iterator[np.ndarray]:
    """Yield consecutive blocks of 16 kHz mono float32 samples, each `block_seconds`
    long except the last. Raises InputError for unreadable, truncated or sample-less
    input."""
    info = source if isinstance(source, AudioInfo) else probe(source)
    block = max(1, int(block_seconds * SAMPLE_RATE))
    pending: list[np.ndarray] = []
    n_pending = 0
    total = 0
    # Resampled with its channels kept, then averaged by ``downmix``, which cannot
    # cancel: FFmpeg's own mono downmix made an inverted stereo pair silence. Packed
    # ("flt", one interleaved plane), not planar: PyAV's to_ndarray of a planar frame
    # with 8 to 32 channels (a conference-room microphone array) crashed the process
    # with a segmentation fault; one plane of n x channels reads safely at any count.
    resampler = av.AudioResampler(format="flt", rate=SAMPLE_RATE)
    mix_state = None
    last = _LastPacket()
    try:
        with av.open(info.path, metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            for frame in _decode(container, stream, last):
                frame.pts = None  # let the resampler keep its own clock
                for out in resampler.resample(frame):
                    arr, mix_state = _mono(out, mix_state)
                    pending.append(arr)
                    n_pending += arr.size
                    while n_pending >= block:
                        yield_block, pending, n_pending = _take(pending, block)
                        total += yield_block.size
                        yield yield_block
            for out in resampler.resample(None):
                arr, mix_state = _mono(out, mix_state)
                pending.append(arr)
                n_pending += arr.size
    except (av.FFmpegError, ValueError) as e:
        raise InputError(info.path, f"corrupt audio ({_reason(e)})") from None
    if n_pending:
        rest = np.concatenate(pending).astype(np.float32, copy=False)
        for c in pending:
            c.fill(0.0)
        total += rest.size
        yield rest
    decoded = total / SAMPLE_RATE
    if total == 0:
        raise InputError(info.path, "file is empty (no audio samples)")
    if info.declared_exact and info.declared_duration and _is_short(decoded, info.declared_duration):
        raise InputError(info.path, _truncated(info.declared_duration, decoded))
    if info.container == "mp3" and last.size:
        need = mpeg.frame_length(last.head)
        if need and last.size < need:
            raise InputError(
                info.path, f"truncated: the last frame is cut off ({last.size} of {need} bytes) at {decoded:.1f} s"
            )
    logger.debug("decoded %s: %.1f s (%s/%s)", info.path, decoded, info.container, info.codec)


def decode_audio(path: str | os.PathLike) -> np.ndarray:
    """The whole file as one array: for short clips and tests; the pipeline uses blocks."""
    blocks = list(iter_blocks(path, block_seconds=3600.0))
    if not blocks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(blocks)


def _is_short(decoded: float, declared: float) -> bool:
    # Relative and absolute slack: codecs skip a few ms of priming (Opus 6.5 ms), which
    # is 5% of a very short clip.
    return decoded < declared * _TRUNCATION_TOLERANCE - 0.25


def _truncated(declared: float, decoded: float) -> str:
    return f"truncated: header declares {declared:.1f} s but only {decoded:.1f} s could be decoded"


def _riff_duration(path: Path) -> float | None:
    """Duration the RIFF/WAVE header declares, or None when it does not say."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        rate = block_align = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"fmt ":
                fmt = f.read(size + (size & 1))
                rate = int.from_bytes(fmt[4:8], "little")
                block_align = int.from_bytes(fmt[12:14], "little")
            elif cid == b"data":
                # 0, 0xFFFFFFFF and ~0x7FFFFFFF mark a header written before the length
                # was known (a recorder writing to a pipe).
                if not rate or not block_align or size == 0 or size >= 0x7FFFF000:
                    return None
                return size / block_align / rate
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)


def _mono(frame, state):
    packed = frame.to_ndarray()  # (1, n * channels) float32, interleaved
    channels = packed.reshape(frame.samples, -1).T  # (channels, n), a view
    mono, state = downmix(channels, state)
    packed.fill(0.0)
    return mono, state


class _LastPacket:
    """The last non-empty packet demuxed: its first bytes (a frame header) and size."""

    head = b""
    size = 0


def _decode(container, stream, last: _LastPacket):
    # Corrupt packets inside an otherwise valid file raise from decode(); the caller
    # turns that into an InputError for the file.
    for packet in container.demux(stream):
        if packet.size:
            last.head, last.size = bytes(packet)[:4], packet.size
        yield from packet.decode()


def _take(chunks: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    joined = np.concatenate(chunks)
    for c in chunks:  # decoded frames are joined into the block; leave no copies
        c.fill(0.0)
    head, tail = joined[:n], joined[n:].copy()
    joined[n:] = 0.0
    rest = [tail] if tail.size else []
    return head, rest, tail.size


def _reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return msg.splitlines()[0].strip().rstrip(".").lower()
