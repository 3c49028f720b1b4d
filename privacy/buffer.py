"""Encrypted transient buffers: a visit's audio and transcript, sealed chunk by chunk.

Threat model. Each chunk is sealed with AES-256-GCM under the visit's in-memory key, with
a fresh random nonce and associated data naming the buffer kind, the visit and the chunk
index. Protected against:
  * leftovers on disk: chunks past ``memory_limit`` spill to a 0600 file in a 0700
    folder, but it holds only nonces and ciphertext, useless once the key is destroyed;
  * tampering with stored chunks: a flipped bit, a dropped, reordered or swapped chunk, or
    a chunk pasted from another visit or another kind fails authentication
    (``ChunkIntegrityError``) and no plaintext is returned;
  * crash leftovers: spill files carry their process id, and ``privacy.spill.sweep_spill``
    removes those whose process is gone (they are unreadable anyway; this reclaims space
    and leaves no trace that a visit happened).
Not protected against: an attacker reading this process's memory while a visit is live.
Plaintext exists there while the pipeline works on it; we zero the buffers we own
(staging, decrypted chunks) to keep that window short, nothing more. Offsets, chunk
counts and chunk boundaries are kept in memory and trusted.
"""

from __future__ import annotations

import bisect
import logging
import re
import secrets
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag

from privacy import SAMPLE_RATE
from privacy.errors import ChunkIntegrityError
from privacy.keys import KeyDestroyedError, VisitKey, zero
from privacy.spill import SpillFile, Spilled, private_dir, spill_root

log = logging.getLogger("scribe.privacy.buffer")

NONCE_BYTES = 12  # 96-bit GCM nonce, random per chunk
TAG_BYTES = 16
_SAMPLE_BYTES = 4  # float32
DEFAULT_MEMORY_LIMIT = 64 * 2**20

_KIND = re.compile(r"[a-z][a-z0-9_]*\Z")  # no '/' or '-': keeps AAD and file names unambiguous


class BufferClosedError(ValueError):
    """The buffer was closed: its ciphertext is gone. ValueError, like I/O on a closed file."""

    def __init__(self, visit_id: str, kind: str):
        self.visit_id, self.kind = visit_id, kind
        super().__init__(f"{kind} buffer of visit {visit_id}: closed, its data has been dropped")

    def __reduce__(self):
        return type(self), (self.visit_id, self.kind)


class EncryptedBuffer:
    """Append-only chunks sealed with AES-256-GCM under a visit key.

    Associated data ``scribe/<kind>/<visit_id>/<index>`` binds each chunk to its place,
    so a chunk read anywhere but where it was written fails authentication. Ciphertext is
    held in memory up to ``memory_limit`` bytes; later chunks go to a spill file. The key
    is not owned: ``close()`` drops ciphertext and the spill file, the visit destroys the key.
    """

    def __init__(
        self,
        visit_id: str,
        key: VisitKey,
        kind: str,
        *,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        spill_dir: Path | None = None,
    ):
        if not isinstance(visit_id, str) or not visit_id:
            raise ValueError("EncryptedBuffer: visit_id must be a non-empty string")
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise ValueError(f"EncryptedBuffer: kind {kind!r} must be lowercase letters, digits or '_'")
        if memory_limit < 0:
            raise ValueError(f"EncryptedBuffer: memory_limit must be >= 0, got {memory_limit}")
        self.visit_id = visit_id
        self.kind = kind
        self._key = key
        self._memory_limit = memory_limit
        self._spill_dir = Path(spill_dir) if spill_dir is not None else None  # resolved on first spill
        self._records: list[bytearray | Spilled] = []
        self._held = 0  # ciphertext bytes in memory
        self._nbytes = 0  # plaintext bytes appended
        self._spill: SpillFile | None = None
        self._finalizer: weakref.finalize | None = None
        self._closed = False
        self._lock = threading.RLock()  # capture appends while the transcriber reads

    def __len__(self) -> int:
        return len(self._records)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def spill_path(self) -> Path | None:
        """The spill file, if any chunk has spilled and the buffer is open."""
        return self._spill.path if self._spill is not None else None

    def append(self, data: bytes | bytearray | memoryview) -> int:
        """Seal one chunk; returns its index."""
        with self._lock:
            self._check_open()
            aead = self._aead()
            with memoryview(data) as raw, raw.cast("B") as plain:
                index = len(self._records)
                nonce = secrets.token_bytes(NONCE_BYTES)
                blob = bytearray(NONCE_BYTES + plain.nbytes + TAG_BYTES)
                blob[:NONCE_BYTES] = nonce
                with memoryview(blob) as out:
                    # Sealing straight into the record: no intermediate ciphertext copy.
                    aead.encrypt_into(nonce, plain, self._aad(index), out[NONCE_BYTES:])
                size = plain.nbytes
            del aead
            if self._spill is not None or self._held + len(blob) > self._memory_limit:
                record: bytearray | Spilled = self._spill_file().write(blob)
            else:
                record = blob
                self._held += len(blob)
            self._records.append(record)
            self._nbytes += size
            return index

    def read(self, index: int) -> bytearray:
        """Decrypt one chunk. The caller owns the result and should ``zero()`` it."""
        with self._lock:
            self._check_open()
            blob = self._load(index)
            if len(blob) < NONCE_BYTES + TAG_BYTES:
                raise self._integrity(index, "record too short to be a sealed chunk")
            aead = self._aead()
            plain = bytearray(len(blob) - NONCE_BYTES - TAG_BYTES)
            with memoryview(blob) as view:
                try:
                    aead.decrypt_into(view[:NONCE_BYTES], view[NONCE_BYTES:], self._aad(index), plain)
                except InvalidTag:
                    # decrypt_into has already written unauthenticated plaintext: wipe it.
                    zero(plain)
                    raise self._integrity(
                        index, "authentication failed (altered, moved, or from another buffer)"
                    ) from None
            return plain

    def close(self) -> None:
        """Drop all ciphertext and delete the spill file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            chunks = len(self._records)
            spilled = sum(isinstance(r, Spilled) for r in self._records)
            # Ciphertext is dropped, not zeroed: without the key it is noise.
            self._records.clear()
            self._held = 0
            if self._finalizer is not None:
                self._finalizer()
            self._spill = None
            self._key = None  # the visit owns the key; we stop pointing at it
            log.debug("visit %s: %s buffer closed (%d chunks, %d spilled)", self.visit_id, self.kind, chunks, spilled)

    def __enter__(self) -> EncryptedBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._records)} chunks"
        return f"<EncryptedBuffer {self.kind} visit={self.visit_id!r} {state}>"

    # -- test hooks: tamper tests need to reach stored records; nothing else uses these --

    def _sealed(self, index: int) -> bytes:
        """Tests only: the stored record (nonce + ciphertext + tag) of chunk ``index``."""
        with self._lock:
            return bytes(self._load(index))

    def _replace_sealed(self, index: int, blob: bytes) -> None:
        """Tests only: overwrite the record of chunk ``index`` (kept in memory)."""
        with self._lock:
            self._records[index] = bytearray(blob)

    def _drop_sealed(self, index: int) -> None:
        """Tests only: delete the record of chunk ``index``; later chunks shift down."""
        with self._lock:
            del self._records[index]

    # -- internals --

    def _check_open(self) -> None:
        if self._closed:
            raise BufferClosedError(self.visit_id, self.kind)

    def _aead(self):
        if self._key.destroyed:
            raise KeyDestroyedError(f"{self.kind} buffer of visit {self.visit_id}: key")
        return self._key.aesgcm()

    def _aad(self, index: int) -> bytes:
        return f"scribe/{self.kind}/{self.visit_id}/{index}".encode("utf-8", "surrogatepass")

    def _integrity(self, index: int, reason: str) -> ChunkIntegrityError:
        log.warning("visit %s: %s buffer chunk %d failed integrity check", self.visit_id, self.kind, index)
        return ChunkIntegrityError(self.visit_id, self.kind, index, reason)

    def _load(self, index: int) -> bytearray:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"{self.kind} buffer: chunk index must be an int, got {type(index).__name__}")
        if not 0 <= index < len(self._records):
            raise self._integrity(index, f"no such chunk (buffer holds {len(self._records)})")
        record = self._records[index]
        if not isinstance(record, Spilled):
            return record
        blob = self._spill.read(record)
        if blob is None:
            raise self._integrity(index, f"spill file {self._spill.path.name} is truncated")
        return blob

    def _spill_file(self) -> SpillFile:
        if self._spill is None:
            folder = private_dir(self._spill_dir) if self._spill_dir is not None else spill_root()
            self._spill = SpillFile(folder, self.visit_id, self.kind)
            # Removes the file even if close() is never called (GC or interpreter exit).
            self._finalizer = weakref.finalize(self, self._spill.remove)
            log.debug("visit %s: %s buffer spilling to disk from chunk %d", self.visit_id, self.kind, len(self._records))
        return self._spill


class AudioBuffer:
    """A visit's audio: 16 kHz mono float32 PCM sealed in chunks of ``chunk_seconds``.

    Samples are staged in one preallocated plaintext bytearray (allocated at full size so
    it never reallocates and leaves copies behind) and sealed as soon as a chunk is full.
    ``flush()`` seals a short tail; appending may continue after it. Reads see everything
    appended, staged tail included. Returned windows are plaintext: callers zero them.
    """

    def __init__(
        self,
        visit_id: str,
        key: VisitKey,
        *,
        chunk_seconds: float = 1.0,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        spill_dir: Path | None = None,
    ):
        chunk = round(chunk_seconds * SAMPLE_RATE)
        if chunk < 1:
            raise ValueError(f"AudioBuffer: chunk_seconds {chunk_seconds} holds no sample at {SAMPLE_RATE} Hz")
        self._buffer = EncryptedBuffer(visit_id, key, "audio", memory_limit=memory_limit, spill_dir=spill_dir)
        self.chunk_samples = chunk
        self._staging = bytearray(chunk * _SAMPLE_BYTES)
        self._staged = 0  # bytes in staging
        self._starts: list[int] = []  # first sample of each sealed chunk (flush can seal short ones)
        self._sealed_samples = 0
        self._lock = threading.RLock()

    @property
    def visit_id(self) -> str:
        return self._buffer.visit_id

    @property
    def samples(self) -> int:
        return self._sealed_samples + self._staged // _SAMPLE_BYTES

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def closed(self) -> bool:
        return self._buffer.closed

    def append(self, samples: np.ndarray) -> None:
        arr = np.asarray(samples)
        if arr.ndim != 1:
            raise ValueError(f"AudioBuffer: samples must be mono (1-D), got shape {arr.shape}")
        if arr.dtype.kind != "f":
            raise TypeError(f"AudioBuffer: samples must be float PCM, got {arr.dtype}")
        converted = arr.dtype != np.float32 or not arr.flags.c_contiguous
        if converted:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        try:
            with self._lock:
                self._buffer._check_open()
                with memoryview(arr) as raw, raw.cast("B") as src:
                    pos = 0
                    while pos < src.nbytes:
                        n = min(len(self._staging) - self._staged, src.nbytes - pos)
                        self._staging[self._staged : self._staged + n] = src[pos : pos + n]
                        self._staged += n
                        pos += n
                        if self._staged == len(self._staging):
                            self._seal()
        finally:
            if converted:
                zero(arr)  # our float32 copy of the caller's audio

    def flush(self) -> None:
        """Seal the staged tail, however short."""
        with self._lock:
            self._buffer._check_open()
            if self._staged:
                self._seal()

    def read_window(self, start_s: float, end_s: float) -> np.ndarray:
        """Samples from ``start_s`` to ``end_s`` (clipped to the end, like slicing)."""
        if not 0 <= start_s <= end_s:
            raise ValueError(f"AudioBuffer: window {start_s}..{end_s} s needs 0 <= start <= end")
        return self._read_samples(round(start_s * SAMPLE_RATE), round(end_s * SAMPLE_RATE))

    def iter_windows(self, seconds: float) -> Iterator[np.ndarray]:
        """Consecutive windows over what was appended when iteration started; the last may be short."""
        step = round(seconds * SAMPLE_RATE)
        if step < 1:
            raise ValueError(f"AudioBuffer: window of {seconds} s holds no sample")
        total = self.samples
        for start in range(0, total, step):
            yield self._read_samples(start, min(start + step, total))

    def close(self) -> None:
        with self._lock:
            zero(self._staging)
            self._staged = 0
            self._buffer.close()

    def __enter__(self) -> AudioBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _seal(self) -> None:
        with memoryview(self._staging) as view:
            self._buffer.append(view[: self._staged])
        self._starts.append(self._sealed_samples)
        self._sealed_samples += self._staged // _SAMPLE_BYTES
        zero(self._staging)
        self._staged = 0

    def _read_samples(self, start: int, end: int) -> np.ndarray:
        with self._lock:
            self._buffer._check_open()
            end = min(end, self.samples)
            start = min(start, end)
            out = np.empty(end - start, dtype=np.float32)
            try:
                pos = start
                index = max(bisect.bisect_right(self._starts, start) - 1, 0)
                # Only the chunks the window overlaps are decrypted.
                while pos < min(end, self._sealed_samples):
                    first = self._starts[index]
                    last = self._starts[index + 1] if index + 1 < len(self._starts) else self._sealed_samples
                    plain = self._buffer.read(index)
                    try:
                        chunk = np.frombuffer(plain, dtype=np.float32)
                        if len(chunk) != last - first:
                            raise self._buffer._integrity(index, f"holds {len(chunk)} samples, expected {last - first}")
                        n = min(end, last) - pos
                        out[pos - start : pos - start + n] = chunk[pos - first : pos - first + n]
                        del chunk
                    finally:
                        zero(plain)
                    pos += n
                    index += 1
                if pos < end:  # the rest is still in staging
                    staged = np.frombuffer(self._staging, dtype=np.float32, count=self._staged // _SAMPLE_BYTES)
                    offset = pos - self._sealed_samples
                    out[pos - start :] = staged[offset : offset + end - pos]
                    del staged
            except BaseException:
                zero(out)
                raise
            return out


class TextBuffer:
    """A visit's transcript: one sealed chunk per appended text (segment, utterance, ...).

    ``read`` returns ``str``, which is immutable and cannot be zeroed; the decrypted bytes
    it came from are. Keep decoded text only as long as needed.
    """

    def __init__(
        self,
        visit_id: str,
        key: VisitKey,
        *,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        spill_dir: Path | None = None,
    ):
        self._buffer = EncryptedBuffer(visit_id, key, "transcript", memory_limit=memory_limit, spill_dir=spill_dir)

    @property
    def visit_id(self) -> str:
        return self._buffer.visit_id

    @property
    def closed(self) -> bool:
        return self._buffer.closed

    def __len__(self) -> int:
        return len(self._buffer)

    def append(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"TextBuffer: text must be str, got {type(text).__name__}")
        return self._buffer.append(text.encode("utf-8"))

    def read(self, index: int) -> str:
        plain = self._buffer.read(index)
        try:
            return plain.decode("utf-8")
        finally:
            zero(plain)

    def __iter__(self) -> Iterator[str]:
        for index in range(len(self._buffer)):
            yield self.read(index)

    def close(self) -> None:
        self._buffer.close()

    def __enter__(self) -> TextBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
