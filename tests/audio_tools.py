"""Write test recordings in real codecs and containers with PyAV (no ffmpeg binary)."""

from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_audio(
    path: Path,
    audio: np.ndarray,
    rate: int = 16000,
    codec: str = "pcm_s16le",
    channels: int = 1,
    video: bool = False,
) -> Path:
    """Encode ``audio`` (float32 mono, or (channels, n)) into ``path``'s container."""
    layout = "mono" if channels == 1 else "stereo"
    planar = np.atleast_2d(audio).astype(np.float32)
    if planar.shape[0] != channels:
        planar = np.repeat(planar[:1], channels, axis=0)
    with av.open(str(path), "w") as container:
        if video:
            v = container.add_stream("mpeg4", rate=10)
            v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        fmt = stream.codec_context.codec.audio_formats[0].name
        frame_size = stream.codec_context.frame_size or 1024
        for i in range(0, planar.shape[1], frame_size):
            chunk = planar[:, i : i + frame_size]
            if chunk.shape[1] < frame_size and codec not in ("pcm_s16le", "pcm_f32le", "flac"):
                chunk = np.pad(chunk, ((0, 0), (0, frame_size - chunk.shape[1])))
            frame = _frame(chunk, fmt, layout, rate)
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if video:
            n = int(planar.shape[1] / rate * 10)
            for k in range(max(n, 1)):
                img = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                img.pts = k
                for packet in v.encode(img.reformat(format="yuv420p")):
                    container.mux(packet)
            for packet in v.encode(None):
                container.mux(packet)
    return path


def _frame(chunk: np.ndarray, fmt: str, layout: str, rate: int) -> av.AudioFrame:
    if fmt.startswith("s16"):
        data = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)
    elif fmt.startswith("s32"):
        data = (np.clip(chunk, -1, 1) * 2147483647).astype(np.int32)
    else:
        data = chunk.astype(np.float32)
    if not fmt.endswith("p"):  # packed: interleave channels in one row
        data = data.T.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
    frame.sample_rate = rate
    return frame


def tone(seconds: float, freq: float = 440.0, rate: int = 16000, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def flite_path() -> str:
    """The flite binary (tests that speak a script with it): a failure in CI, where
    ``make system-deps`` installs it, and a skip elsewhere."""
    import pytest

    path = shutil.which("flite")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("flite is not installed (make system-deps installs it)")
        pytest.skip("flite not installed")
    return path
