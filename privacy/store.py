"""Standard mode's visit store: audio and transcript kept on disk, encrypted at rest with
a key the site controls, and journaled so a crash mid-visit loses at most one second.

Layout, one folder per visit under the store root (0700)::

    <root>/<visit_id>/meta.json           metadata only (0600): never content
    <root>/<visit_id>/audio.journal       sealed records of 16 kHz mono float32
    <root>/<visit_id>/transcript.journal  sealed records of UTF-8 text

A journal is a magic header followed by frames. Each frame is
``length (4, big-endian) | crc32 of those 4 bytes (4) | nonce (12) | AES-256-GCM ciphertext``.
The associated data binds visit id, stream and record index, so records cannot be moved
between visits or streams, reordered, or dropped from the middle without failing
authentication. The header CRC lets a reader tell a torn final write (ignored) from a
corrupted length field (an error): without it a flipped length bit would make every later
record look like a torn tail and vanish silently.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy import SAMPLE_RATE
from privacy.errors import IntegrityError, PathError
from privacy.paths import data_dir, fsync_dir

logger = logging.getLogger("scribe.privacy.store")

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
AUDIO_DTYPE = np.dtype("<f4")  # fixed byte order: a journal must read back on any host

STATE_OPEN = "open"
STATE_COMPLETE = "complete"
STATE_RECOVERED = "recovered"

_FORMAT = 1
_MAGIC = b"SCRIBEJ\x01"
_HEADER = struct.Struct(">II")
# Audio records are at most one second (64 kB); text records are one utterance. Anything
# far larger is a corrupted header, and refusing it keeps a reader from allocating garbage.
_MAX_PAYLOAD = 64 * 1024 * 1024
_STREAMS = {"audio": "audio.journal", "transcript": "transcript.journal"}
_META = "meta.json"
_VISIT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class StoreError(PathError):
    """The visit store cannot do what was asked: renders as ``<path>: <reason>``. A
    ``ScribeError`` (exit code 1): the CLI reports it as one line."""


class RecordIntegrityError(StoreError, IntegrityError):
    """A stored record failed authentication: corrupt, tampered with, or a different key.
    Both a ``StoreError`` (reported as one line) and a ``privacy.errors.IntegrityError``."""


# --- where things live -----------------------------------------------------------------


def default_key_path() -> Path:
    if os.environ.get("SCRIBE_SITE_KEY"):
        return Path(os.environ["SCRIBE_SITE_KEY"]).expanduser()
    return data_dir() / "site.key"


def default_visits_root() -> Path:
    return data_dir() / "visits"


# --- site key --------------------------------------------------------------------------


def load_site_key(path: Path | None = None, create: bool = True) -> bytearray:
    """The site's 32-byte key. Created (0600, from os.urandom) if missing and ``create``.
    Returned as a bytearray so the caller can zero it when done. Errors name the path and
    the reason, never the key."""
    path = Path(path) if path is not None else default_key_path()
    if create:
        _create_key(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise StoreError(path, "site key not found") from None
    except OSError as exc:
        raise StoreError(path, f"cannot open site key: {exc.strerror}") from None
    try:
        # fstat on the open descriptor, so the checks apply to the file actually read.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(path, "site key is not a regular file")
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise StoreError(
                path, f"site key permissions {mode:04o} allow group/other access; chmod 600 it"
            )
        if st.st_size != KEY_BYTES:
            raise StoreError(path, f"site key must be {KEY_BYTES} bytes, found {st.st_size}")
        key = bytearray(KEY_BYTES)
        view = memoryview(key)
        got = 0
        while got < KEY_BYTES:
            n = os.readv(fd, [view[got:]])
            if n == 0:
                break
            got += n
        if got != KEY_BYTES:
            key[:] = bytes(KEY_BYTES)
            raise StoreError(path, f"site key must be {KEY_BYTES} bytes, read {got}")
        return key
    finally:
        os.close(fd)


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes racing to create the key must not each write their own.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(path, f"cannot create site key: {exc.strerror}") from None
    try:
        _write_all(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise StoreError(path, f"cannot write site key: {exc.strerror}") from None
    os.close(fd)
    fsync_dir(path.parent)
    logger.info("created site key at %s", path)


# --- records ---------------------------------------------------------------------------


def _aad(visit_id: str, stream: str, index: int) -> bytes:
    return f"scribe-journal-v{_FORMAT}\0{visit_id}\0{stream}\0{index}".encode()


def _key_check_aad(visit_id: str) -> bytes:
    return f"scribe-key-check-v{_FORMAT}\0{visit_id}".encode()


def _frame(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    payload = nonce + aead.encrypt(nonce, plaintext, aad)
    length = struct.pack(">I", len(payload))
    return length + struct.pack(">I", zlib.crc32(length)) + payload


@dataclass(frozen=True)
class _Scan:
    frames: list[tuple[int, int]]  # (payload offset, payload length) of intact frames
    torn: int  # bytes of an incomplete final frame, ignored


def _scan(path: Path) -> _Scan:
    """Locate intact frames by reading headers only. A frame cut short at the end of the
    file is a write the crash interrupted; a bad header anywhere else is corruption."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return _Scan([], 0)
    with f:
        size = os.fstat(f.fileno()).st_size
        magic = f.read(len(_MAGIC))
        if magic != _MAGIC:
            if _MAGIC.startswith(magic):  # crash while creating the file
                return _Scan([], len(magic))
            raise RecordIntegrityError(path, "not a Scribe journal (bad header)")
        frames: list[tuple[int, int]] = []
        pos = len(_MAGIC)
        while pos < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return _Scan(frames, size - pos)
            length, crc = _HEADER.unpack(header)
            if crc != zlib.crc32(header[:4]):
                if _all_zero(f, header):
                    # A power cut can extend the file before its data lands: zeros.
                    return _Scan(frames, size - pos)
                raise RecordIntegrityError(path, f"record {len(frames)}: corrupt frame header")
            if not NONCE_BYTES + TAG_BYTES <= length <= _MAX_PAYLOAD:
                raise RecordIntegrityError(path, f"record {len(frames)}: bad frame length {length}")
            start = pos + _HEADER.size
            if start + length > size:
                return _Scan(frames, size - pos)
            frames.append((start, length))
            pos = start + length
            f.seek(pos)
        return _Scan(frames, 0)


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


def _writer_record() -> dict:
    pid = os.getpid()
    return {"pid": pid, "boot_id": _boot_id(), "start": _start_ticks(pid)}


def _writer_alive(writer: dict | None) -> bool:
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_meta(folder: Path, meta: dict) -> None:
    """Atomic replace: a crash leaves either the old meta or the new, never half of one."""
    tmp = folder / (_META + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, json.dumps(meta, indent=1, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, folder / _META)
    fsync_dir(folder)


def _read_meta(folder: Path) -> dict:
    path = folder / _META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(path, "visit metadata missing") from None
    except (OSError, ValueError) as exc:
        raise StoreError(path, f"visit metadata unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise StoreError(path, "visit metadata has an unknown format")
    return meta


def _created(meta: dict, path: Path) -> datetime:
    try:
        created = datetime.fromisoformat(meta["created"])
    except (KeyError, TypeError, ValueError):
        raise StoreError(path, "visit metadata has no valid created time") from None
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


# --- public types ----------------------------------------------------------------------


@dataclass(frozen=True)
class VisitSummary:
    visit_id: str
    created: datetime
    state: str  # "open", "complete" or "recovered"
    audio_seconds: float  # in intact records, i.e. recoverable
    transcript_records: int
    writer_alive: bool = False


@dataclass
class RecoveredVisit:
    audio: np.ndarray  # float32, 16 kHz mono
    transcript: list[str] = field(default_factory=list)
    torn_tail: bool = False  # a final write the crash cut short was ignored


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
        self._counts = {stream: 0 for stream in _STREAMS}
        self._sealed_samples = 0
        self._closed = False
        try:
            for stream, name in _STREAMS.items():
                fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
                self._fds[stream] = fd
                _write_all(fd, _MAGIC)
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

    def close(self) -> None:
        """Flush and close, leaving the visit open: it is then listed as interrupted."""
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_pending()
            finally:
                self._finish(STATE_OPEN)
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
        frame = _frame(self._aead, plaintext, _aad(self.visit_id, stream, index))
        fd = self._fds[stream]
        try:
            _write_all(fd, frame)
            os.fsync(fd)
        except OSError as exc:
            # Cut a half-written frame off, or every later record would sit behind it.
            try:
                os.ftruncate(fd, self._sizes[stream])
            except OSError:
                self._closed = True
                self._close_fds()
            raise StoreError(self.path / _STREAMS[stream], f"cannot write record: {exc.strerror}") from None
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
            _write_meta(self.path, meta)
        except OSError as exc:
            raise StoreError(self.path / _META, f"cannot write visit metadata: {exc.strerror}") from None
        self._pending[:] = bytes(len(self._pending))

    def _close_fds(self) -> None:
        fds = getattr(self, "_fds", {})
        while fds:
            _, fd = fds.popitem()
            try:
                os.close(fd)
            except OSError:
                pass


class VisitStore:
    """Visits kept in standard mode, under ``root`` (default ``<data dir>/visits``)."""

    def __init__(self, root: Path | None = None, key: bytearray | bytes | None = None):
        if key is None:
            raise ValueError("a site key is required: see load_site_key()")
        if len(key) != KEY_BYTES:
            raise ValueError(f"site key must be {KEY_BYTES} bytes")
        self.root = Path(root) if root is not None else default_visits_root()
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(self.root, f"cannot create visit store: {exc.strerror}") from None
        self._aead = AESGCM(bytes(key))

    # -- writing --

    def open_visit(self, visit_id: str | None = None) -> VisitJournal:
        visit_id = visit_id if visit_id is not None else uuid.uuid4().hex
        folder = self._folder(visit_id)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            raise StoreError(folder, f"visit {visit_id} already exists") from None
        except OSError as exc:
            raise StoreError(folder, f"cannot create visit: {exc.strerror}") from None
        fsync_dir(self.root)
        nonce = os.urandom(NONCE_BYTES)
        check = nonce + self._aead.encrypt(nonce, b"", _key_check_aad(visit_id))
        meta = {
            "format": _FORMAT,
            "visit_id": visit_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "state": STATE_OPEN,
            "sample_rate": SAMPLE_RATE,
            "writer": _writer_record(),
            # Lets recover() say "wrong site key" rather than "record 0 is corrupt", and
            # catches a wrong key even for a visit with no records.
            "key_check": check.hex(),
        }
        try:
            _write_meta(folder, meta)
        except OSError as exc:
            raise StoreError(folder / _META, f"cannot write visit metadata: {exc.strerror}") from None
        journal = VisitJournal(folder, visit_id, self._aead, meta)
        logger.info("opened visit %s", visit_id)
        return journal

    # -- reading --

    def visits(self) -> list[VisitSummary]:
        """Every readable visit, oldest first. Folders without readable metadata are
        skipped here (and logged); purge() still removes them once old enough."""
        out = []
        for folder in self._folders():
            try:
                out.append(self._summary(folder))
            except StoreError as exc:
                logger.warning("skipping visit folder: %s", exc)
        return sorted(out, key=lambda v: v.created)

    def interrupted(self) -> list[VisitSummary]:
        """Open visits whose writer is gone: crashed, killed, or closed without completing."""
        return [v for v in self.visits() if v.state == STATE_OPEN and not v.writer_alive]

    def recover(self, visit_id: str) -> RecoveredVisit:
        """Every intact record of a visit. A torn final frame is ignored; a record that
        fails authentication raises RecordIntegrityError naming the visit and record."""
        folder = self._existing(visit_id)
        meta = _read_meta(folder)
        self._verify_key(folder, visit_id, meta)
        expected = meta.get("records") if meta.get("state") != STATE_OPEN else None

        audio_path = folder / _STREAMS["audio"]
        audio_scan = self._scan(audio_path, visit_id, "audio", expected)
        total = sum(length - NONCE_BYTES - TAG_BYTES for _, length in audio_scan.frames)
        if total % AUDIO_DTYPE.itemsize:
            raise RecordIntegrityError(audio_path, f"visit {visit_id}: audio records are not whole samples")
        audio = np.empty(total // AUDIO_DTYPE.itemsize, dtype=np.float32)
        at = 0
        for index, plain in self._records(audio_path, visit_id, "audio", audio_scan):
            n = len(plain) // AUDIO_DTYPE.itemsize
            if n * AUDIO_DTYPE.itemsize != len(plain):
                raise RecordIntegrityError(audio_path, f"visit {visit_id}: audio record {index} is not whole samples")
            audio[at : at + n] = np.frombuffer(plain, dtype=AUDIO_DTYPE)
            at += n

        text_path = folder / _STREAMS["transcript"]
        text_scan = self._scan(text_path, visit_id, "transcript", expected)
        transcript = []
        for index, plain in self._records(text_path, visit_id, "transcript", text_scan):
            try:
                transcript.append(plain.decode("utf-8"))
            except UnicodeDecodeError:
                raise RecordIntegrityError(text_path, f"visit {visit_id}: transcript record {index} is not UTF-8") from None

        torn = bool(audio_scan.torn or text_scan.torn)
        logger.info(
            "recovered visit %s: %.1f s audio, %d transcript records%s",
            visit_id, len(audio) / SAMPLE_RATE, len(transcript), ", torn tail ignored" if torn else "",
        )
        return RecoveredVisit(audio=audio, transcript=transcript, torn_tail=torn)

    def mark_recovered(self, visit_id: str) -> None:
        """Record that an interrupted visit has been dealt with, so it is no longer listed."""
        folder = self._existing(visit_id)
        meta = _read_meta(folder)
        if meta.get("state") == STATE_OPEN and _writer_alive(meta.get("writer")):
            raise StoreError(folder, f"visit {visit_id} is still being recorded")
        meta.update(state=STATE_RECOVERED, writer=None, recovered=datetime.now(timezone.utc).isoformat())
        _write_meta(folder, meta)
        logger.info("visit %s marked recovered", visit_id)

    # -- deleting --

    def delete(self, visit_id: str) -> None:
        folder = self._existing(visit_id)
        try:
            meta = _read_meta(folder)
        except StoreError:
            meta = {}
        if meta.get("state") == STATE_OPEN and _writer_alive(meta.get("writer")):
            raise StoreError(folder, f"visit {visit_id} is still being recorded")
        self._remove(folder)
        logger.info("deleted visit %s", visit_id)

    def purge(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Delete visits created more than ``older_than`` before ``now``; returns their ids.
        A visit still being recorded is kept. A folder whose metadata is unreadable (a
        crash while opening it) is judged by its modification time, so it cannot outlive
        retention."""
        now = datetime.now(timezone.utc) if now is None else now.astimezone(timezone.utc)
        cutoff = now - older_than
        purged = []
        for folder in self._folders():
            try:
                meta = _read_meta(folder)
                created = _created(meta, folder / _META)
            except StoreError:
                meta = {}
                created = datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc)
            if created >= cutoff:
                continue
            if meta.get("state") == STATE_OPEN and _writer_alive(meta.get("writer")):
                logger.warning("visit %s is past retention but still being recorded: kept", folder.name)
                continue
            self._remove(folder)
            purged.append(folder.name)
        if purged:
            logger.info("purged %d visits older than %s", len(purged), older_than)
        return purged

    def purge_expired(self, retention_days: int, now: datetime | None = None) -> list[str]:
        if retention_days < 0:
            raise ValueError(f"retention_days must be >= 0, got {retention_days}")
        return self.purge(timedelta(days=retention_days), now=now)

    # -- internals --

    def _folder(self, visit_id: str) -> Path:
        # The id becomes a path component: nothing that could climb out of the root.
        if not isinstance(visit_id, str) or not _VISIT_ID.match(visit_id):
            raise StoreError(self.root, f"invalid visit id {visit_id!r}: use letters, digits, - and _")
        return self.root / visit_id

    def _existing(self, visit_id: str) -> Path:
        folder = self._folder(visit_id)
        if not folder.is_dir():
            raise StoreError(folder, f"no such visit {visit_id}")
        return folder

    def _folders(self) -> list[Path]:
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return []
        return [p for p in entries if p.is_dir() and not p.is_symlink() and _VISIT_ID.match(p.name)]

    def _summary(self, folder: Path) -> VisitSummary:
        meta = _read_meta(folder)
        audio = _scan(folder / _STREAMS["audio"])
        text = _scan(folder / _STREAMS["transcript"])
        samples = sum(length - NONCE_BYTES - TAG_BYTES for _, length in audio.frames) // AUDIO_DTYPE.itemsize
        return VisitSummary(
            visit_id=folder.name,
            created=_created(meta, folder / _META),
            state=str(meta.get("state")),
            audio_seconds=samples / int(meta.get("sample_rate", SAMPLE_RATE)),
            transcript_records=len(text.frames),
            writer_alive=meta.get("state") == STATE_OPEN and _writer_alive(meta.get("writer")),
        )

    def _verify_key(self, folder: Path, visit_id: str, meta: dict) -> None:
        try:
            check = bytes.fromhex(meta["key_check"])
            self._aead.decrypt(check[:NONCE_BYTES], check[NONCE_BYTES:], _key_check_aad(visit_id))
        except (KeyError, TypeError, ValueError):
            raise StoreError(folder / _META, f"visit {visit_id}: key check missing or malformed") from None
        except InvalidTag:
            raise RecordIntegrityError(
                folder, f"visit {visit_id}: site key does not match the key it was recorded with"
            ) from None

    def _scan(self, path: Path, visit_id: str, stream: str, expected: dict | None) -> _Scan:
        try:
            scan = _scan(path)
        except RecordIntegrityError as exc:
            raise RecordIntegrityError(path, f"visit {visit_id}: {stream} {exc.reason}") from None
        if expected is not None:
            # A finished visit has no excuse for a torn tail or missing records.
            want = expected.get(stream)
            if scan.torn or (isinstance(want, int) and len(scan.frames) != want):
                raise RecordIntegrityError(
                    path, f"visit {visit_id}: {stream} journal holds {len(scan.frames)} of {want} records"
                )
        if scan.torn:
            logger.warning("visit %s: %s journal has a torn final frame (%d bytes), ignored",
                           visit_id, stream, scan.torn)
        return scan

    def _records(self, path: Path, visit_id: str, stream: str, scan: _Scan):
        with open(path, "rb") as f:
            for index, (offset, length) in enumerate(scan.frames):
                f.seek(offset)
                payload = f.read(length)
                try:
                    plain = self._aead.decrypt(
                        payload[:NONCE_BYTES], payload[NONCE_BYTES:], _aad(visit_id, stream, index)
                    )
                except InvalidTag:
                    raise RecordIntegrityError(
                        path, f"visit {visit_id}: {stream} record {index} failed authentication"
                    ) from None
                yield index, plain

    def _remove(self, folder: Path) -> None:
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            raise StoreError(folder, f"cannot delete visit: {exc.strerror}") from None
        fsync_dir(self.root)
