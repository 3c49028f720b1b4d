"""MP3 length and truncation (issue 12 item 11): judged from the file's own frames and
length tag, never from FFmpeg's estimate from a bitrate.

Real files from the real encoder: lame (a system package the Makefile installs) encodes
the cough sample. ``-V6 -t`` is VBR without the Xing/LAME tag, as some recorders write:
FFmpeg estimates it at 98.6 s from its first frame's bitrate, and main refused it as
truncated although every frame decodes.
"""

from __future__ import annotations

import subprocess
import sys
import wave

import pytest

from scribe.audio.decode import SAMPLE_RATE, decode_audio, probe
from scribe.audio.mpeg import frame_length, has_length_tag
from scribe.errors import InputError
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "cough_visit.wav"
FRAME = 576  # samples in an MPEG-2 layer III frame (lame codes 16 kHz as MPEG-2)
# lame's encoder delay (576 + 529 samples, its documented ENCDELAY) is left in by a
# decoder that has no LAME tag to trim it, and the last frame is padded to a whole frame.
LAME_DELAY = 1105


def _samples() -> int:
    with wave.open(str(SAMPLE)) as w:
        return w.getnframes()


def _lame(tmp_path, name: str, *flags: str):
    out = tmp_path / name
    subprocess.run(["lame", "--quiet", *flags, str(SAMPLE), str(out)], check=True)
    return out


def _frames(data: bytes, start: int) -> list[int]:
    """Offsets of the frames from ``start`` on, walked by their headers' lengths."""
    at, found = start, []
    while at + 4 <= len(data) and (n := frame_length(data[at : at + 4])):
        found.append(at)
        at += n
    return found


def test_frame_length_from_the_header():
    # MPEG-1 layer III 128 kbit/s 44.1 kHz: 144 * 128000 / 44100 = 417 (418 padded).
    assert frame_length(bytes([0xFF, 0xFB, 0x90, 0x00])) == 417
    assert frame_length(bytes([0xFF, 0xFB, 0x92, 0x00])) == 418
    # MPEG-2 layer III 40 kbit/s 16 kHz: 72 * 40000 / 16000 = 180.
    assert frame_length(bytes([0xFF, 0xF3, 0x58, 0xC4])) == 180
    # MPEG-1 layer I 32 kbit/s 48 kHz: (12 * 32000 / 48000) * 4 = 32.
    assert frame_length(bytes([0xFF, 0xFF, 0x14, 0x00])) == 32
    # Not a header; free format (index 0) and reserved values do not say.
    for bad in (b"RIFF", bytes([0xFF, 0xFB, 0x00, 0x00]), bytes([0xFF, 0xFB, 0xF0, 0x00]), bytes([0xFF, 0xEB, 0x90, 0x00])):
        assert frame_length(bad) is None


def test_vbr_mp3_without_a_length_tag_decodes_whole(tmp_path):
    path = _lame(tmp_path, "vbr.mp3", "-V6", "-t")
    info = probe(path)
    assert not has_length_tag(path) and not info.declared_exact
    assert round(info.declared_duration, 1) == 98.6  # FFmpeg's estimate: 19 s too long
    audio = decode_audio(path)
    # Every source sample, plus the encoder delay and padding no tag trims: whole frames.
    n = _samples()
    assert audio.size % FRAME == 0
    assert n + LAME_DELAY <= audio.size < n + LAME_DELAY + FRAME
    assert audio.size / SAMPLE_RATE == 79.452


def test_tagged_mp3_decodes_to_the_source_length(tmp_path):
    path = _lame(tmp_path, "tagged.mp3", "-V6", "--id3v2-only", "--tt", "a visit")
    info = probe(path)
    assert has_length_tag(path) and info.declared_exact and info.declared_duration == 79.38
    assert decode_audio(path).size == _samples()  # the LAME tag's delay and padding trimmed


def _expect(path, message: str):
    with pytest.raises(InputError) as e:
        decode_audio(path)
    assert str(e.value) == f"{path}: {message}"


def _cut_off(data: bytes, cut: int) -> str:
    """The message for ``data`` cut at byte ``cut``, inside a frame of a file without a
    length tag: the partial frame, and the whole frames before it decoded (576 samples
    each, the partial one too: the decoder fills it)."""
    frames = _frames(data, data.index(b"\xff"))
    inside = [at for at in frames if at < cut]
    start = inside[-1]
    need = frame_length(data[start : start + 4])
    assert cut - start < need  # really mid-frame
    return f"truncated: the last frame is cut off ({cut - start} of {need} bytes) at {len(inside) * FRAME / SAMPLE_RATE:.1f} s"


def test_mp3_cut_mid_frame_is_truncated(tmp_path):
    path = _lame(tmp_path, "vbr.mp3", "-V6", "-t")
    data = path.read_bytes()
    frames = _frames(data, data.index(b"\xff"))
    # Cut inside the last frame: one byte short is enough.
    short = tmp_path / "short.mp3"
    short.write_bytes(data[:-1])
    last = len(data) - frames[-1]
    _expect(short, f"truncated: the last frame is cut off ({last - 1} of {last} bytes) at 79.5 s")
    # Cut in half: inside a frame (as a copy or download stops), without a tag to say so.
    half = tmp_path / "half.mp3"
    half.write_bytes(data[: len(data) // 2])
    _expect(half, _cut_off(data, len(data) // 2))


def test_tagged_mp3_cut_at_a_frame_boundary_is_truncated(tmp_path):
    path = _lame(tmp_path, "tagged.mp3", "-V6")
    data = path.read_bytes()
    frames = _frames(data, data.index(b"\xff"))
    cut = tmp_path / "cut.mp3"
    kept = len(frames) // 2
    cut.write_bytes(data[: frames[kept]])  # whole frames only: the tag's count says
    # The first frame is the tag; the decoder trims lame's delay from the start.
    decoded = ((kept - 1) * FRAME - LAME_DELAY) / SAMPLE_RATE
    _expect(cut, f"truncated: header declares 79.4 s but only {decoded:.1f} s could be decoded")


def test_cli_refuses_a_cut_mp3_in_one_line(tmp_path):
    path = _lame(tmp_path, "vbr.mp3", "-V6", "-t")
    half = tmp_path / "half.mp3"
    half.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    run = subprocess.run([sys.executable, "-m", "scribe.cli", "transcribe", str(half), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"error: {half}: {_cut_off(path.read_bytes(), half.stat().st_size)}; visit discarded, nothing retained",
        "1 of 1 input(s) failed",
    ]
