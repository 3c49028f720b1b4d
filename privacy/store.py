"""Standard mode's visit store: audio and transcript kept on disk, encrypted at rest with
a key the site controls, and journaled so a crash mid-visit loses at most one second.

Layout, one folder per visit under the store root (0700)::

    <root>/<visit_id>/meta.json           metadata only (0600): never content
    <root>/<visit_id>/audio.journal       sealed records of 16 kHz mono float32
    <root>/<visit_id>/transcript.journal  sealed records of UTF-8 text

The journal format is in ``privacy.journal``; the site key the store is opened with in
``privacy.sitekey`` (re-exported here: this module is standard mode's storage API).
Errors are ``StoreError`` (one line, exit code 1), ``RecordIntegrityError`` for a record
that fails authentication.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy import SAMPLE_RATE
from privacy.errors import RecordIntegrityError, StoreError
from privacy.journal import (
    AUDIO_DTYPE,
    FORMAT,
    META,
    NONCE_BYTES,
    STATE_OPEN,
    STATE_RECOVERED,
    STREAMS,
    TAG_BYTES,
    JournalScan,
    VisitJournal,
    created_time,
    key_check_aad,
    read_meta,
    record_aad,
    scan_journal,
    write_meta,
    writer_alive,
    writer_record,
)
from privacy.paths import data_dir, fsync_dir
from privacy.sitekey import KEY_BYTES, default_key_path, load_site_key

__all__ = [
    "VisitStore", "VisitJournal", "VisitSummary", "RecoveredVisit", "StoreError", "RecordIntegrityError",
    "default_visits_root", "default_key_path", "load_site_key",
]

logger = logging.getLogger("scribe.privacy.store")

_VISIT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def default_visits_root() -> Path:
    return data_dir() / "visits"


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
        check = nonce + self._aead.encrypt(nonce, b"", key_check_aad(visit_id))
        meta = {
            "format": FORMAT,
            "visit_id": visit_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "state": STATE_OPEN,
            "sample_rate": SAMPLE_RATE,
            "writer": writer_record(),
            # Lets recover() say "wrong site key" rather than "record 0 is corrupt", and
            # catches a wrong key even for a visit with no records.
            "key_check": check.hex(),
        }
        try:
            write_meta(folder, meta)
        except OSError as exc:
            raise StoreError(folder / META, f"cannot write visit metadata: {exc.strerror}") from None
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
        meta = read_meta(folder)
        self._verify_key(folder, visit_id, meta)
        expected = meta.get("records") if meta.get("state") != STATE_OPEN else None

        audio_path = folder / STREAMS["audio"]
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

        text_path = folder / STREAMS["transcript"]
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
        meta = read_meta(folder)
        if meta.get("state") == STATE_OPEN and writer_alive(meta.get("writer")):
            raise StoreError(folder, f"visit {visit_id} is still being recorded")
        meta.update(state=STATE_RECOVERED, writer=None, recovered=datetime.now(timezone.utc).isoformat())
        write_meta(folder, meta)
        logger.info("visit %s marked recovered", visit_id)

    # -- deleting --

    def delete(self, visit_id: str) -> None:
        folder = self._existing(visit_id)
        try:
            meta = read_meta(folder)
        except StoreError:
            meta = {}
        if meta.get("state") == STATE_OPEN and writer_alive(meta.get("writer")):
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
                meta = read_meta(folder)
                created = created_time(meta, folder / META)
            except StoreError:
                meta = {}
                created = datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc)
            if created >= cutoff:
                continue
            if meta.get("state") == STATE_OPEN and writer_alive(meta.get("writer")):
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
        meta = read_meta(folder)
        audio = scan_journal(folder / STREAMS["audio"])
        text = scan_journal(folder / STREAMS["transcript"])
        samples = sum(length - NONCE_BYTES - TAG_BYTES for _, length in audio.frames) // AUDIO_DTYPE.itemsize
        return VisitSummary(
            visit_id=folder.name,
            created=created_time(meta, folder / META),
            state=str(meta.get("state")),
            audio_seconds=samples / int(meta.get("sample_rate", SAMPLE_RATE)),
            transcript_records=len(text.frames),
            writer_alive=meta.get("state") == STATE_OPEN and writer_alive(meta.get("writer")),
        )

    def _verify_key(self, folder: Path, visit_id: str, meta: dict) -> None:
        try:
            check = bytes.fromhex(meta["key_check"])
            self._aead.decrypt(check[:NONCE_BYTES], check[NONCE_BYTES:], key_check_aad(visit_id))
        except (KeyError, TypeError, ValueError):
            raise StoreError(folder / META, f"visit {visit_id}: key check missing or malformed") from None
        except InvalidTag:
            raise RecordIntegrityError(
                folder, f"visit {visit_id}: site key does not match the key it was recorded with"
            ) from None

    def _scan(self, path: Path, visit_id: str, stream: str, expected: dict | None) -> JournalScan:
        try:
            scan = scan_journal(path)
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

    def _records(self, path: Path, visit_id: str, stream: str, scan: JournalScan):
        with open(path, "rb") as f:
            for index, (offset, length) in enumerate(scan.frames):
                f.seek(offset)
                payload = f.read(length)
                try:
                    plain = self._aead.decrypt(
                        payload[:NONCE_BYTES], payload[NONCE_BYTES:], record_aad(visit_id, stream, index)
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
