"""Enrolled clinicians' voiceprints: site configuration, sealed under the site key.

A voiceprint is a clinician's biometric data. It is kept only because they enrolled
(``scribe enroll``, the recorder page's "Enroll my voice") and until they delete it.
It is site configuration, not visit data, so privacy mode keeps it too.

Layout: one file per voiceprint under ``<data dir>/voices/`` (0700)::

    <root>/<id>.voice    b"SVP1" + 12-byte nonce + AES-256-GCM(JSON record)

The record (``id``, ``name``, ``created``, ``model``, ``vector``: base64 float32) is
sealed whole: neither the clinician's name nor the vector is on disk in plaintext. The
AES key is HKDF-SHA256 of the site key (``privacy.sitekey``) with its own info string, so
it is never the visit store's key or the audit log's MAC key; the id is the GCM
associated data, so a file renamed to another id fails authentication.

Writes are atomic (a 0600 temporary file in the same folder, fsynced, renamed over).
Deletion overwrites the file with zeros, fsyncs, then unlinks it; Scribe keeps no copy
and no backup. The overwrite is a best effort only: on journaling or copy-on-write
filesystems (ext4 data journaling, btrfs, ZFS, APFS) and on SSDs (wear levelling) the
old blocks may survive it. What protects a deleted voiceprint is that it was only ever on
disk sealed under the site key.
Errors are ``StoreError`` (one line naming the input and the reason, never the key);
``NoSuchVoice`` for an id not enrolled.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy.errors import RecordIntegrityError, StoreError
from privacy.paths import data_dir, fsync_dir, private_dir, write_all
from privacy.sitekey import default_key_path, load_site_key

__all__ = ["NoSuchVoice", "VoiceNameError", "Voiceprint", "VoiceprintStore", "default_voices_root", "VOICE_ID"]

logger = logging.getLogger("privacy.voiceprints")

_MAGIC = b"SVP1"
_NONCE = 12
_INFO = b"scribe voiceprints v1"
_SUFFIX = ".voice"
# Generated ids only ("voice-" + 8 hex digits): never derived from the clinician's name.
VOICE_ID = re.compile(r"\Avoice-[0-9a-f]{8}\Z")
_MAX_NAME = 120


class NoSuchVoice(StoreError):
    """No voiceprint has this id (``<id>: no such enrolled voice``): the service's 404,
    the CLI's exit code 1. Told apart by type, never by its message."""

    def __init__(self, voice_id: str):
        super().__init__(voice_id, "no such enrolled voice (see scribe enroll --list)")


class VoiceNameError(StoreError):
    """The clinician's name cannot label a voiceprint (empty, or over the length limit).
    Names neither a path nor the name itself: the service's 400, the CLI's exit code 1."""

    def __init__(self, reason: str):
        super().__init__("clinician name", reason)


def default_voices_root() -> Path:
    return data_dir() / "voices"


@dataclass(frozen=True)
class Voiceprint:
    """One enrolled voice.

    Attributes
    ----------
    id : str
        ``voice-`` and 8 hex digits, generated at enrollment.
    name : str
        The clinician's name as they gave it (``Role.CLINICIAN`` for their speech).
    created : str
        When they enrolled, ISO 8601 UTC.
    model : str
        The speaker encoder that made ``vector`` (name and version); a voiceprint is
        only compared with windows embedded by the same model.
    vector : np.ndarray
        (d,) float32, unit norm.
    """

    id: str
    name: str
    created: str
    model: str
    vector: np.ndarray


class VoiceprintStore:
    """The site's voiceprints under ``root`` (default ``<data dir>/voices``), sealed with
    a key derived from the site key at ``key_path`` (default ``privacy.sitekey``'s)."""

    def __init__(self, root: Path | None = None, key_path: Path | None = None):
        self.root = Path(root) if root is not None else default_voices_root()
        self.key_path = Path(key_path) if key_path is not None else default_key_path()

    def _aead(self, create: bool) -> AESGCM:
        site = load_site_key(self.key_path, create=create)
        try:
            return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(bytes(site)))
        finally:
            site[:] = bytes(len(site))

    def path(self, voice_id: str) -> Path:
        if not isinstance(voice_id, str) or not VOICE_ID.match(voice_id):
            raise StoreError(str(voice_id)[:40], "not a voiceprint id (voice- and 8 hex digits)")
        return self.root / (voice_id + _SUFFIX)

    def add(self, name: str, model: str, vector: np.ndarray) -> Voiceprint:
        """Seal and keep a new voiceprint; returns it with its new id.

        Parameters
        ----------
        name : str
            The clinician's name (1-120 characters, one line).
        model : str
            The encoder's name and version.
        vector : np.ndarray
            (d,) float; stored as float32, unit norm.
        """
        name = " ".join(str(name).split())
        if not name or len(name) > _MAX_NAME:
            raise VoiceNameError(f"a voiceprint needs a name of 1 to {_MAX_NAME} characters (got {len(name)})")
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(v))
        if v.size == 0 or not np.isfinite(norm) or norm == 0:
            raise StoreError("voiceprint", "a voiceprint needs a non-zero vector")
        v = v / norm
        created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        aead = self._aead(create=True)
        private_dir(self.root)
        while True:
            voice_id = "voice-" + secrets.token_hex(4)
            if not self.path(voice_id).exists():
                break
        record = json.dumps(
            {"id": voice_id, "name": name, "created": created, "model": model,
             "vector": base64.b64encode(v.astype("<f4").tobytes()).decode()}
        ).encode()
        nonce = os.urandom(_NONCE)
        sealed = _MAGIC + nonce + aead.encrypt(nonce, record, voice_id.encode())
        _atomic_write(self.path(voice_id), sealed)
        return Voiceprint(voice_id, name, created, model, v)

    def get(self, voice_id: str) -> Voiceprint:
        """The voiceprint ``voice_id``; ``NoSuchVoice`` if there is none,
        ``RecordIntegrityError`` if it fails authentication. Errors name the id, not the
        file's path (they reach the service's responses)."""
        path = self.path(voice_id)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise NoSuchVoice(voice_id) from None
        except OSError as exc:
            raise StoreError(voice_id, f"cannot read voiceprint: {exc.strerror}") from None
        return self._open(path, voice_id, blob)

    def _open(self, path: Path, voice_id: str, blob: bytes) -> Voiceprint:
        if len(blob) < len(_MAGIC) + _NONCE + 16 or not blob.startswith(_MAGIC):
            raise RecordIntegrityError(voice_id, "not a sealed voiceprint")
        nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            plain = self._aead(create=False).decrypt(nonce, blob[len(_MAGIC) + _NONCE :], voice_id.encode())
        except InvalidTag:
            raise RecordIntegrityError(voice_id, "voiceprint failed authentication (corrupt, or another site key)") from None
        try:
            d = json.loads(plain)
            vector = np.frombuffer(base64.b64decode(d["vector"]), dtype="<f4").astype(np.float32)
            return Voiceprint(d["id"], d["name"], d["created"], d["model"], vector)
        except (ValueError, KeyError, TypeError):
            raise RecordIntegrityError(voice_id, "voiceprint record is malformed") from None

    def scan(self) -> tuple[list[Voiceprint], list[str]]:
        """Every enrolled voice that opens, oldest first, and the ids of those that do not
        (failed authentication, malformed, unreadable), sorted. Both empty if the folder
        does not exist. Never raises for one bad file: one voiceprint must not stop the
        others (``scribe enroll --list`` shows the bad ones so they can be deleted)."""
        if not self.root.is_dir():
            return [], []
        out, bad = [], []
        for path in sorted(self.root.glob("*" + _SUFFIX)):
            voice_id = path.name[: -len(_SUFFIX)]
            if not VOICE_ID.match(voice_id):
                continue
            try:
                out.append(self.get(voice_id))
            except NoSuchVoice:
                continue  # deleted since the listing
            except StoreError:  # RecordIntegrityError, or the file cannot be read
                bad.append(voice_id)
        return sorted(out, key=lambda v: (v.created, v.id)), bad

    def list(self) -> list[Voiceprint]:
        """Every enrolled voice that opens, oldest first (none if the folder does not
        exist). A voiceprint that does not open is skipped with one WARNING naming its id
        only (see ``scan``)."""
        voices, bad = self.scan()
        for voice_id in bad:
            logger.warning("voiceprint %s is unreadable (corrupt, or another site key): skipped; "
                           "delete it with scribe enroll --delete %s", voice_id, voice_id)
        return voices

    def delete(self, voice_id: str) -> None:
        """Remove ``voice_id``: the file is overwritten with zeros and fsynced, then
        unlinked, and the folder fsynced. Works on a voiceprint that no longer opens.

        The overwrite is a best effort: journaling and copy-on-write filesystems and SSDs
        may keep the old blocks. What protects the deleted voiceprint is that those blocks
        only ever held it sealed under the site key. ``NoSuchVoice`` if there is no such
        voice."""
        path = self.path(voice_id)
        try:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise NoSuchVoice(voice_id) from None
        except OSError as exc:
            raise StoreError(path, f"cannot delete voiceprint: {exc.strerror}") from None
        try:
            write_all(fd, bytes(os.fstat(fd).st_size))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        fsync_dir(self.root)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise StoreError(path.parent, f"cannot write voiceprint: {exc.strerror}") from None
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(path, f"cannot write voiceprint: {exc.strerror}") from None
    fsync_dir(path.parent)
