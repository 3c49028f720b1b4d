"""Privacy mode's encrypted transient buffers and visit keys: round trips, tampering,
spilling, crash sweeping and key shredding. Fast: no models, no audio files."""

from __future__ import annotations

import copy
import os
import pickle
import stat
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from privacy.buffer import (
    SAMPLE_RATE,
    AudioBuffer,
    BufferClosedError,
    EncryptedBuffer,
    ChunkIntegrityError as IntegrityError,
    TextBuffer,
)
from privacy.keys import KeyDestroyedError, VisitKey, zero
from privacy.spill import spill_root, sweep_spill

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions and pids")

PHRASE = "patient reports crushing chest pain radiating to the left arm"


@pytest.fixture
def key():
    with VisitKey.generate() as k:
        yield k


@pytest.fixture
def spill_dir(tmp_path):
    return tmp_path / "spill"  # absent: the buffer must create it 0700


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(-1, 1, round(seconds * SAMPLE_RATE)).astype(np.float32)
    # Values a lossy path would mangle: bit-exact means these survive too.
    x[:4] = [-0.0, np.float32(1e-45), np.nan, np.inf]
    return x


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32)


def _flip(blob: bytes, at: int) -> bytes:
    out = bytearray(blob)
    out[at] ^= 0x01
    return bytes(out)


def _texts(key, visit="v1", n=4, **kw) -> TextBuffer:
    buf = TextBuffer(visit, key, **kw)
    for i in range(n):
        buf.append(f"{PHRASE} #{i}")
    return buf


# -- round trips --


@pytest.mark.parametrize(
    "start, end",
    [(0.1, 0.6), (0.0, 1.0), (0.75, 2.25), (0.5, 3.9), (3.0, 3.5), (3.2, 3.5), (3.4, 99.0), (3.5, 3.5)],
    ids=["in-chunk", "one-chunk", "across", "across-many", "tail", "in-tail", "past-end", "empty-at-end"],
)
@pytest.mark.parametrize("flushed", [True, False], ids=["flushed", "staged-tail"])
def test_audio_window_is_bit_exact(key, start, end, flushed):
    x = _audio(3.5)
    with AudioBuffer("v1", key) as buf:
        for part in np.array_split(x, 7):  # appends that straddle chunk boundaries
            buf.append(part)
        if flushed:
            buf.flush()
        assert buf.duration == pytest.approx(3.5)
        got = buf.read_window(start, end)
        a, b = round(start * SAMPLE_RATE), min(round(end * SAMPLE_RATE), len(x))
        assert got.dtype == np.float32
        assert np.array_equal(_bits(got), _bits(x[a:b]))


def test_audio_chunks_are_fixed_and_flush_seals_tail(key):
    with AudioBuffer("v1", key, chunk_seconds=0.5) as buf:
        buf.append(_audio(1.7))
        assert len(buf._buffer) == 3  # 0.2 s still staged in plaintext
        buf.flush()
        assert len(buf._buffer) == 4
        buf.append(_audio(0.3, seed=1))  # appending after a flush keeps positions right
        x = np.concatenate([_audio(1.7), _audio(0.3, seed=1)])
        assert np.array_equal(_bits(buf.read_window(1.5, 2.0)), _bits(x[24000:]))


def test_audio_staging_is_zeroed_after_sealing_and_close(key):
    buf = AudioBuffer("v1", key, chunk_seconds=0.5)
    staging = buf._staging
    buf.append(_audio(0.5, seed=2)[4:])  # short of a full chunk: stays staged
    assert any(staging)
    buf.append(_audio(0.1, seed=3)[4:])  # 4 samples complete the chunk; 1592 stay staged
    assert len(buf._buffer) == 1
    assert any(staging[6300:6368]) and not any(staging[6368:])
    buf.flush()
    assert not any(staging)
    buf.append(_audio(0.2, seed=4)[4:])
    buf.close()
    assert buf._staging is staging and not any(staging)


def test_audio_iter_windows_cover_everything(key):
    x = _audio(2.3)
    with AudioBuffer("v1", key, chunk_seconds=0.4) as buf:
        buf.append(x.astype(np.float64))  # converted, not rejected
        windows = list(buf.iter_windows(0.7))
    assert [len(w) for w in windows] == [11200, 11200, 11200, 3200]
    assert np.array_equal(_bits(np.concatenate(windows)), _bits(x))


def test_audio_rejects_non_mono_and_integer_pcm(key):
    with AudioBuffer("v1", key) as buf:
        with pytest.raises(ValueError, match="mono"):
            buf.append(np.zeros((10, 2), np.float32))
        with pytest.raises(TypeError, match="float"):
            buf.append(np.zeros(10, np.int16))


def test_text_round_trip(key):
    with TextBuffer("v1", key) as buf:
        texts = [PHRASE, "", "Dosis: 5 mg — täglich ✓"]
        assert [buf.append(t) for t in texts] == [0, 1, 2]
        assert buf.read(2) == texts[2]
        assert list(buf) == texts
        assert len(buf) == 3


def test_encrypted_buffer_counts_and_returns_bytearray(key):
    with EncryptedBuffer("v1", key, "notes") as buf:
        buf.append(b"abc")
        buf.append(memoryview(bytearray(b"defgh")))
        assert (len(buf), buf.nbytes) == (2, 8)
        got = buf.read(1)
        assert isinstance(got, bytearray) and got == b"defgh"


# -- tampering: every case raises IntegrityError, never returns data --


@pytest.mark.parametrize("at", [0, 11, 12, 20, -1], ids=["nonce", "nonce-end", "ct-start", "ct", "tag"])
def test_flipped_bit_in_memory(key, at):
    with _texts(key) as buf:
        raw = buf._buffer
        raw._replace_sealed(1, _flip(raw._sealed(1), at))
        with pytest.raises(IntegrityError, match="chunk 1"):
            buf.read(1)
        assert buf.read(0) == f"{PHRASE} #0"  # the others are untouched


def test_flipped_bit_in_audio_window(key):
    with AudioBuffer("v1", key) as buf:
        buf.append(_audio(3.0))
        raw = buf._buffer
        raw._replace_sealed(1, _flip(raw._sealed(1), 40))
        with pytest.raises(IntegrityError):
            buf.read_window(0.5, 2.5)
        buf.read_window(0.0, 1.0)  # chunk 0 alone still reads


@posix_only
def test_flipped_bit_in_spill_file(key, spill_dir):
    with _texts(key, memory_limit=0, spill_dir=spill_dir) as buf:
        path = buf._buffer.spill_path
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x80
        path.write_bytes(data)
        with pytest.raises(IntegrityError):
            list(buf)


def test_truncated_spill_file(key, spill_dir):
    with _texts(key, memory_limit=0, spill_dir=spill_dir) as buf:
        path = buf._buffer.spill_path
        os.truncate(path, path.stat().st_size - 5)
        with pytest.raises(IntegrityError, match="truncated"):
            buf.read(3)


def test_dropped_chunk(key):
    with _texts(key, n=4) as buf:
        buf._buffer._drop_sealed(1)
        with pytest.raises(IntegrityError, match="chunk 1"):
            buf.read(1)  # now holds chunk 2, sealed for index 2
        with pytest.raises(IntegrityError, match="chunk 2"):
            buf.read(2)
        with pytest.raises(IntegrityError, match="no such chunk"):
            buf.read(3)
        assert buf.read(0) == f"{PHRASE} #0"


def test_swapped_chunks(key):
    with _texts(key) as buf:
        raw = buf._buffer
        a, b = raw._sealed(0), raw._sealed(1)
        raw._replace_sealed(0, b)
        raw._replace_sealed(1, a)
        for i in (0, 1):
            with pytest.raises(IntegrityError):
                buf.read(i)


def test_chunk_from_another_visit_same_key(key):
    with _texts(key, visit="v1") as mine, _texts(key, visit="v2") as theirs:
        mine._buffer._replace_sealed(0, theirs._buffer._sealed(0))
        with pytest.raises(IntegrityError, match="visit v1: chunk 0"):
            mine.read(0)


def test_chunk_from_another_kind_same_visit_same_key(key):
    with _texts(key, visit="v1") as text, EncryptedBuffer("v1", key, "notes") as other:
        other.append(b"x" * 40)
        text._buffer._replace_sealed(0, other._sealed(0))
        with pytest.raises(IntegrityError):
            text.read(0)


def test_chunk_under_another_key(key):
    with VisitKey.generate() as other_key, _texts(key) as mine, _texts(other_key) as theirs:
        mine._buffer._replace_sealed(2, theirs._buffer._sealed(2))
        with pytest.raises(IntegrityError):
            mine.read(2)


def test_integrity_error_is_one_line():
    err = IntegrityError("v1", "audio", 3, "authentication failed")
    assert str(err) == "audio buffer of visit v1: chunk 3: authentication failed"
    assert pickle.loads(pickle.dumps(err)).index == 3


# -- key and buffer lifetime --


def test_destroyed_key_cannot_read_or_append():
    key = VisitKey.generate()
    buf = _texts(key)
    key.destroy()
    with pytest.raises(KeyDestroyedError):
        buf.read(0)
    with pytest.raises(KeyDestroyedError):
        buf.append("more")
    with pytest.raises(KeyDestroyedError):
        key.aesgcm()
    buf.close()


def test_closed_buffer_refuses(key):
    buf = _texts(key)
    audio = AudioBuffer("v1", key)
    audio.append(_audio(0.5))
    buf.close()
    audio.close()
    buf.close()  # idempotent
    with pytest.raises(BufferClosedError, match="closed"):
        buf.read(0)
    with pytest.raises(BufferClosedError):
        buf.append("x")
    with pytest.raises(BufferClosedError):
        audio.append(_audio(0.1))
    with pytest.raises(BufferClosedError):
        audio.read_window(0, 0.1)


def test_destroy_zeroes_the_key_bytearray():
    key = VisitKey.generate()
    material = key._material
    assert isinstance(material, bytearray) and len(material) == 32 and any(material)
    key.aesgcm()
    key.destroy()
    assert key._material is material and material == bytearray(32)
    assert key.destroyed and key._aead is None
    key.destroy()  # idempotent


def test_context_manager_destroys():
    with VisitKey.generate() as key:
        material = key._material
    assert key.destroyed and not any(material)


def test_key_never_shows_or_leaves():
    key = VisitKey.generate()
    material = bytes(key._material)
    for text in (repr(key), str(key), f"{key}"):
        assert material.hex() not in text and str(material) not in text and str(list(material)) not in text
    for leak in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            leak(key)
    with pytest.raises(TypeError):
        VisitKey(material)  # immutable bytes could never be zeroed


def test_zero_overwrites_in_place():
    ba = bytearray(b"secret")
    zero(ba)
    assert ba == bytearray(6)
    arr = np.arange(1, 9, dtype=np.float32)
    zero(arr[::2])  # strided views too
    assert arr.tolist() == [0, 2, 0, 4, 0, 6, 0, 8]
    backing = bytearray(b"\xff" * 8)
    zero(memoryview(backing).cast("f"))
    assert backing == bytearray(8)
    with pytest.raises(TypeError):
        zero(b"immutable")


# -- spilling to disk --


@posix_only
def test_spill_file_is_private_ciphertext_and_removed(key, spill_dir):
    x = _audio(2.0)
    audio = AudioBuffer("v1", key, chunk_seconds=0.25, memory_limit=20000, spill_dir=spill_dir)
    text = _texts(key, memory_limit=0, spill_dir=spill_dir)
    audio.append(x)
    audio_path, text_path = audio._buffer.spill_path, text._buffer.spill_path
    assert audio_path.parent == text_path.parent == spill_dir
    assert audio_path.name.startswith(f"{os.getpid()}-v1-audio-") and audio_path.suffix == ".sealed"
    assert stat.S_IMODE(spill_dir.stat().st_mode) == 0o700
    for path in (audio_path, text_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    on_disk = audio_path.read_bytes() + text_path.read_bytes()
    assert len(on_disk) > 20000  # most of the audio really went to disk
    assert x[-200:-100].tobytes() not in on_disk  # a sample run from a spilled chunk
    assert PHRASE.encode() not in on_disk and b"chest pain" not in on_disk
    # Reads back exactly through the spill file.
    assert np.array_equal(_bits(audio.read_window(0.0, 2.0)), _bits(x))
    assert list(text)[3] == f"{PHRASE} #3"

    audio.close()
    text.close()
    assert not audio_path.exists() and not text_path.exists()
    assert audio._buffer.spill_path is None
    assert list(spill_dir.iterdir()) == []


def test_no_spill_under_the_limit(key, spill_dir):
    with _texts(key, spill_dir=spill_dir) as buf:
        assert buf._buffer.spill_path is None
    assert not spill_dir.exists()  # nothing touched the disk


@posix_only
def test_default_spill_root_is_private(monkeypatch, tmp_path, key):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = spill_root()
    assert root == tmp_path / f"scribe-spill-{os.getuid()}"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    with _texts(key, memory_limit=0) as buf:
        assert buf._buffer.spill_path.parent == root


@posix_only
def test_open_spill_folder_is_refused(key, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with _texts(key, n=0, memory_limit=0, spill_dir=folder) as buf:
        with pytest.raises(PermissionError, match="open to other users"):
            buf.append(PHRASE)


@posix_only
def test_sweep_removes_files_of_dead_processes_only(spill_dir, key):
    spill_dir.mkdir(mode=0o700)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()  # reaped: its pid no longer names a process
    dead = spill_dir / f"{done.pid}-v9-audio-0123abcd.sealed"
    live = spill_dir / f"{os.getpid()}-v8-audio-89abcdef.sealed"
    other = spill_dir / "notes.txt"
    for path in (dead, live, other):
        path.write_bytes(b"\x00" * 16)
    with _texts(key, memory_limit=0, spill_dir=spill_dir) as buf:  # a live buffer's file
        assert sweep_spill(spill_dir) == 1
        assert not dead.exists() and live.exists() and other.exists()
        assert buf._buffer.spill_path.exists() and buf.read(0) == f"{PHRASE} #0"
    assert sweep_spill(spill_dir / "absent") == 0
