"""Decoding real codecs and containers to 16 kHz mono, and refusing bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest

from scribe.audio.decode import SAMPLE_RATE, decode_audio, iter_blocks
from scribe.errors import InputError
from tests.audio_tools import tone, write_audio

FORMATS = [
    ("wav", "pcm_s16le", 44100, 1, False),
    ("flac", "flac", 22050, 1, False),
    ("mp3", "libmp3lame", 44100, 2, False),
    ("m4a", "aac", 48000, 2, False),
    ("ogg", "libopus", 48000, 1, False),
    ("mp4", "aac", 44100, 2, True),  # a video file's audio track
]


@pytest.mark.parametrize("ext,codec,rate,channels,video", FORMATS)
def test_decodes_to_16k_mono(tmp_path, ext, codec, rate, channels, video):
    src = tone(2.0, freq=300.0, rate=rate)
    path = write_audio(tmp_path / f"clip.{ext}", src, rate=rate, codec=codec, channels=channels, video=video)
    audio = decode_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Lossy codecs pad a few frames; the duration must still be right to ~60 ms.
    assert abs(audio.size / SAMPLE_RATE - 2.0) < 0.06
    # The tone survives: its energy sits at 300 Hz after resampling.
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    assert abs(freqs[np.argmax(spectrum)] - 300) <= 2
    assert 0.15 < np.sqrt(np.mean(audio[2000:-2000] ** 2)) < 0.3


def test_stereo_is_downmixed(tmp_path):
    left, right = tone(1.0, 300.0), tone(1.0, 700.0)
    path = write_audio(tmp_path / "st.wav", np.stack([left, right]), channels=2)
    audio = decode_audio(path)
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    peaks = sorted(freqs[np.argsort(spectrum)[-2:]].round())
    assert peaks == [300.0, 700.0]


def test_blocks_are_bounded_and_complete(tmp_path):
    path = write_audio(tmp_path / "long.wav", tone(7.3))
    blocks = list(iter_blocks(path, block_seconds=2.0))
    assert [b.size for b in blocks[:-1]] == [2 * SAMPLE_RATE] * 3
    assert sum(b.size for b in blocks) == pytest.approx(7.3 * SAMPLE_RATE, abs=1)


def _expect(path, reason):
    with pytest.raises(InputError) as e:
        decode_audio(path)
    msg = str(e.value)
    assert str(path) in msg and reason in msg and "\n" not in msg


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.wav", "file not found")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _expect(p, "file is empty")


def test_text_renamed_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("Patient said the pain started on Monday.\n" * 20)
    _expect(p, "not a readable audio file")


def test_truncated_wav(tmp_path):
    p = write_audio(tmp_path / "cut.wav", tone(10.0))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    _expect(p, "truncated")


def test_corrupt_mp3(tmp_path):
    p = write_audio(tmp_path / "bad.mp3", tone(3.0), codec="libmp3lame")
    data = bytearray(p.read_bytes())
    rng = np.random.default_rng(0)
    data[200:] = rng.integers(0, 256, len(data) - 200, dtype=np.uint8).tobytes()
    p.write_bytes(bytes(data))
    with pytest.raises(InputError) as e:
        decode_audio(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_unknown_length_header_is_not_truncation(tmp_path):
    """Recorders writing to a pipe put a placeholder length in the header."""
    p = write_audio(tmp_path / "piped.wav", tone(3.0))
    data = bytearray(p.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = (0x7FFFFFFF).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    assert decode_audio(p).size == pytest.approx(3 * SAMPLE_RATE, abs=1)


def test_very_short_opus_is_not_truncation(tmp_path):
    p = write_audio(tmp_path / "blip.ogg", tone(0.05, rate=48000), rate=48000, codec="libopus")
    assert decode_audio(p).size > 0


def test_truncated_wav_fails_before_decoding(tmp_path):
    from scribe.audio.decode import probe

    p = write_audio(tmp_path / "cut.wav", tone(10.0))
    p.write_bytes(p.read_bytes()[:50_000])
    with pytest.raises(InputError, match="truncated: header declares 10.0 s but only 1.6 s"):
        probe(p)


@pytest.mark.parametrize("channels", [8, 12, 32])
def test_many_channels_decode(tmp_path, channels):
    """A microphone array's 8 to 32 channels (PyAV's planar to_ndarray crashed the process
    with a segmentation fault there): decoded, the speech in one channel averaged with
    the silent others."""
    import wave

    speech = (tone(2.0, 300.0) * 32767).astype("<i2")
    frames = np.zeros((speech.size, channels), dtype="<i2")
    frames[:, 0] = speech
    path = tmp_path / f"array{channels}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(frames.tobytes())
    audio = decode_audio(path)
    assert audio.shape == (speech.size,)
    np.testing.assert_allclose(audio * channels, speech / 32768.0, atol=1e-6)
