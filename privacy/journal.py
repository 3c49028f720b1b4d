"""One visit's journal on disk (standard mode): sealed records appended to a file per
stream, and the visit's metadata beside them.

A journal is a magic header followed by frames. Each frame is
``length (4, big-endian) | crc32 of those 4 bytes (4) | nonce (12) | AES-256-GCM ciphertext``.
The associated data binds visit id, stream and record index, so records cannot be moved
between visits or streams, reordered, or dropped from the middle without failing
authentication. The header CRC lets a reader tell a torn final write (ignored) from a
corrupted length field (an error): without it a flipped length bit would make every later
record look like a torn tail and vanish silently.

``VisitJournal`` writes one visit; ``privacy.store.VisitStore`` opens journals, lists and
reads them back with ``scan_journal`` and the helpers here.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy import SAMPLE_RATE
from privacy.errors import RecordIntegrityError, StoreError
from privacy.paths import fsync_dir, write_all

logger = logging.getLogger("scribe.privacy.journal")

NONCE_BYTES = 12
TAG_BYTES = 16
AUDIO_DTYPE = np.dtype("<f4")  # fixed byte order: a journal must read back on any host

STATE_OPEN = "open"
STATE_COMPLETE = "complete"
STATE_RECOVERED = "recovered"

FORMAT = 1
STREAMS = {"audio": "audio.journal", "transcript": "transcript.journal"}
META = "meta.json"
_MAGIC = b"SCRIBEJ\x01"
_HEADER = struct.Struct(">II")
# Audio records are at most one second (64 kB); text records are one utterance. Anything
# far larger is a corrupted header, and refusing it keeps a reader from allocating garbage.
_MAX_PAYLOAD = 64 * 1024 * 1024


# --- records ---------------------------------------------------------------------------


def record_aad(visit_id: str, stream: str, index: int) -> bytes:
    """Associated data of record ``index`` of ``stream``: binds it to its visit and place."""
    return f"scribe-journal-v{FORMAT}\0{visit_id}\0{stream}\0{index}".encode()


def key_check_aad(visit_id: str) -> bytes:
    """Associated data of the visit's key check (an empty message sealed at open)."""
    return f"scribe-key-check-v{FORMAT}\0{visit_id}".encode()


def _frame(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    payload = nonce + aead.encrypt(nonce, plaintext, aad)
    length = struct.pack(">I", len(payload))
    return length + struct.pack(">I", zlib.crc32(length)) + payload


@dataclass(frozen=True)
class JournalScan:
    """Where a journal's intact frames are, found from their headers alone."""

    frames: list[tuple[int, int]]  # (payload offset, payload length) of intact frames
    torn: int  # bytes of an incomplete final frame, ignored


def scan_journal(path: Path) -> JournalScan:
    """Locate intact frames by reading headers only. A frame cut short at the end of the
    file is a write the crash interrupted; a bad header anywhere else is corruption."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return JournalScan([], 0)
    with f:
        size = os.fstat(f.fileno()).st_size
        magic = f.read(len(_MAGIC))
        if magic != _MAGIC:
            if _MAGIC.startswith(magic):  # crash while creating the file
                return JournalScan([], len(magic))
            raise RecordIntegrityError(path, "not a Scribe journal (bad header)")
        frames: list[tuple[int, int]] = []
        pos = len(_MAGIC)
        while pos < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return JournalScan(frames, size - pos)
            length, crc = _HEADER.unpack(header)
            if crc != zlib.crc32(header[:4]):
                if _all_zero(f, header):
                    # A power cut can extend the file before its data lands: zeros.
                    return JournalScan(frames, size - pos)
                raise RecordIntegrityError(path, f"record {len(frames)}: corrupt frame header")
            if not NONCE_BYTES + TAG_BYTES <= length <= _MAX_PAYLOAD:
                raise RecordIntegrityError(path, f"record {len(frames)}: bad frame length {length}")
            start = pos + _HEADER.size
            if start + length > size:
                return JournalScan(frames, size - pos)
            frames.append((start, length))
            pos = start + length
            f.seek(pos)
        return JournalScan(frames, 0)


def _all_zero(f, already: bytes) -> bool:
    if any(already):
        return False
    while chunk := f.read(1 << 16):
        if any(chunk):
            return False
    return True


# --- process liveness ------------------------------------------------------------------


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks (Linux), so a recycled pid is not mistaken
    for the writer that died."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[19])


def writer_record() -> dict:
    """This process as the visit's writer: pid, boot id and start time (Linux)."""
    pid = os.getpid()
    return {"pid": pid, "boot_id": _boot_id(), "start": _start_ticks(pid)}


def writer_alive(writer: dict | None) -> bool:
    """Whether the process ``writer_record()`` described still runs (same boot, same
    start time: a recycled pid does not count)."""
    if not writer or not isinstance(writer.get("pid"), int):
        return False
    pid = writer["pid"]
    boot = _boot_id()
    if writer.get("boot_id") and boot and writer["boot_id"] != boot:
        return False  # machine rebooted since: the writer is gone whatever the pid says
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if writer.get("start") is not None:
        now = _start_ticks(pid)
        if now is not None and now != writer["start"]:
            return False
    return True


# --- files -----------------------------------------------------------------------------


def write_meta(folder: Path, meta: dict) -> None:
    """Atomic replace: a crash leaves either the old meta or the new, never half of one."""
    tmp = folder / (META + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, json.dumps(meta, indent=1, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, folder / META)
    fsync_dir(folder)


def read_meta(folder: Path) -> dict:
    """The visit's metadata; ``StoreError`` if missing, unreadable or of another format."""
    path = folder / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(path, "visit metadata missing") from None
    except (OSError, ValueError) as exc:
        raise StoreError(path, f"visit metadata unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StoreError(path, "visit metadata has an unknown format")
    return meta


def created_time(meta: dict, path: Path) -> datetime:
    """When the visit was opened (UTC); ``StoreError`` naming ``path`` if not recorded."""
    try:
        created = datetime.fromisoformat(meta["created"])
    except (KeyError, TypeError, ValueError):
        raise StoreError(path, "visit metadata has no valid created time") from None
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


class VisitJournal:
    """The writer for one visit. Not for reuse after ``complete()`` or ``close()``."""

    def __init__(self, folder: Path, visit_id: str, aead: AESGCM, meta: dict):
        self.visit_id = visit_id
        self.path = folder
        self._aead = aead
        self._meta = meta
        self._lock = threading.Lock()
        self._pending = bytearray()  # plaintext audio not yet sealed: < 1 s of it
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._counts = {stream: 0 for stream in STREAMS}
        self._sealed_samples = 0
        self._closed = False
        try:
            for stream, name in STREAMS.items():
                fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
                self._fds[stream] = fd
                write_all(fd, _MAGIC)
                os.fsync(fd)
                self._sizes[stream] = len(_MAGIC)
            fsync_dir(folder)
        except OSError as exc:
            self._close_fds()
            raise StoreError(folder, f"cannot create journal: {exc.strerror}") from None

    # -- writing --

    def append_audio(self, samples: np.ndarray) -> None:
        """Buffer 16 kHz mono float32 samples; every full second is sealed and synced."""
        samples = np.asarray(samples)
        if samples.ndim != 1:
            raise ValueError(f"audio must be mono (1-D), got shape {samples.shape}")
        if samples.dtype != np.float32:
            raise ValueError(f"audio must be float32, got {samples.dtype}")
        with self._lock:
            self._check_open()
            self._pending += samples.astype(AUDIO_DTYPE, copy=False).tobytes()
            second = SAMPLE_RATE * AUDIO_DTYPE.itemsize
            while len(self._pending) >= second:
                self._seal("audio", bytes(self._pending[:second]))
                self._pending[:second] = b""

    def append_text(self, text: str) -> None:
        """Seal one transcript record and sync it."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        with self._lock:
            self._check_open()
            self._seal("transcript", text.encode("utf-8"))

    def flush(self) -> None:
        """Seal buffered audio now, even if less than a second."""
        with self._lock:
            self._check_open()
            self._flush_pending()

    def complete(self) -> None:
        """Flush, close and mark the visit complete."""
        with self._lock:
            self._check_open()
            self._flush_pending()
            self._finish(STATE_COMPLETE)
        logger.info(
            "visit %s complete: %d audio records, %d transcript records",
            self.visit_id, self._counts["audio"], self._counts["transcript"],
        )

    @property
    def empty(self) -> bool:
        """Nothing kept yet: no audio or transcript record sealed, none buffered."""
        return not any(self._counts.values()) and not self._pending

    def close(self) -> None:
        """Flush and close, leaving the visit open: it is then listed as interrupted. A
        journal with nothing in it (an input refused before any audio) says so at INFO:
        the refusal itself is the one line its user sees (issue 12 item 13)."""
        with self._lock:
            if self._closed:
                return
            empty = self.empty
            try:
                self._flush_pending()
            finally:
                self._finish(STATE_OPEN)
        if empty:
            logger.info("visit %s closed with nothing kept", self.visit_id)
        else:
            logger.warning("visit %s closed without completing", self.visit_id)

    def __enter__(self) -> VisitJournal:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.complete()
        else:
            self.close()

    def __del__(self):
        # Descriptors only: an abandoned journal must not be silently marked complete.
        self._close_fds()

    @property
    def audio_seconds(self) -> float:
        """Audio handed in so far, sealed or still buffered."""
        return (self._sealed_samples + len(self._pending) // AUDIO_DTYPE.itemsize) / SAMPLE_RATE

    # -- internals --

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(self.path, f"visit {self.visit_id} is closed for writing")

    def _flush_pending(self) -> None:
        if self._pending:
            self._seal("audio", bytes(self._pending))
            self._pending[:] = b""

    def _seal(self, stream: str, plaintext: bytes) -> None:
        index = self._counts[stream]
        frame = _frame(self._aead, plaintext, record_aad(self.visit_id, stream, index))
        fd = self._fds[stream]
        try:
            write_all(fd, frame)
            os.fsync(fd)
        except OSError as exc:
            # Cut a half-written frame off, or every later record would sit behind it.
            try:
                os.ftruncate(fd, self._sizes[stream])
            except OSError:
                self._closed = True
                self._close_fds()
            raise StoreError(self.path / STREAMS[stream], f"cannot write record: {exc.strerror}") from None
        self._sizes[stream] += len(frame)
        self._counts[stream] = index + 1
        if stream == "audio":
            self._sealed_samples += len(plaintext) // AUDIO_DTYPE.itemsize

    def _finish(self, state: str) -> None:
        self._closed = True
        self._close_fds()
        meta = dict(self._meta, state=state, writer=None)
        meta["records"] = dict(self._counts)
        if state == STATE_COMPLETE:
            meta["completed"] = datetime.now(timezone.utc).isoformat()
        try:
            write_meta(self.path, meta)
        except OSError as exc:
            raise StoreError(self.path / META, f"cannot write visit metadata: {exc.strerror}") from None
        self._pending[:] = bytes(len(self._pending))

    def _close_fds(self) -> None:
        fds = getattr(self, "_fds", {})
        while fds:
            _, fd = fds.popitem()
            try:
                os.close(fd)
            except OSError:
                pass
