"""One visit's lifecycle: open -> capture/process -> draft -> sign/export -> close.

In privacy mode a visit's audio and transcript live only in encrypted transient buffers
under a key that exists only in this object; ``close`` destroys the key (so whatever
ciphertext might remain anywhere is unreadable) and the buffers. Whatever ends the visit
(normal close, an exception, a discarded draft) ends it this way: the context manager
discards on error. What leaves a privacy-mode visit is only what the clinician exports.

In standard mode the visit is journaled, encrypted at rest under the site key, to a
``VisitStore`` so a crash loses at most a second of audio.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from privacy import SAMPLE_RATE
from privacy.audit import AuditLog
from privacy.buffer import AudioBuffer, TextBuffer
from privacy.keys import VisitKey, zero
from privacy.policy import ContentRegistry
from privacy.store import VisitStore

logger = logging.getLogger("scribe.privacy.visit")


@dataclass
class Visit:
    """Holds what a visit may keep while it runs. Not shared between visits."""

    privacy: bool = True
    audit: AuditLog | None = None
    registry: ContentRegistry | None = None
    store: VisitStore | None = None  # standard mode only: where the visit is journaled
    # Where the visit runs, recorded with visit_opened and visit_processed (metadata only:
    # audit fields "node", "host"); empty on this machine's own runs.
    where: dict[str, str] = field(default_factory=dict)
    visit_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _opened: float = field(default_factory=time.monotonic)
    _closed: bool = False
    # A signed note still waiting to be exported: the audit log's visit_closed waits for
    # it (ended()), so every note_exported comes before it.
    _awaiting_export: bool = False
    _end_recorded: bool = False

    def __post_init__(self) -> None:
        self._key: VisitKey | None = None
        self._audio: AudioBuffer | None = None
        self._text: TextBuffer | None = None
        self._journal = None
        if self.privacy:
            self._key = VisitKey.generate()
            self._audio = AudioBuffer(self.visit_id, self._key)
            self._text = TextBuffer(self.visit_id, self._key)
        elif self.store is not None:
            self._journal = self.store.open_visit(self.visit_id)
        self._record("visit_opened", privacy=self.privacy, **self.where)

    # -- capture ------------------------------------------------------------------------

    def store_audio(self, block: np.ndarray, start: float) -> np.ndarray:
        """Keep a decoded block the way this visit's mode says, and return the audio the
        pipeline should work on.

        Privacy mode: the block is sealed into the encrypted buffer and the decoder's
        plaintext zeroed; the pipeline gets back a window decrypted from the buffer,
        which it zeroes (``release``) when done with it."""
        if self._audio is not None:
            self._audio.append(block)
            zero(block)
            return self._audio.read_window(start, start + block.size / SAMPLE_RATE)
        if self._journal is not None:
            self._journal.append_audio(block)
        return block

    def release(self, window: np.ndarray) -> None:
        """The pipeline is done with a window: in privacy mode its plaintext is zeroed."""
        if self.privacy:
            zero(window)

    @contextmanager
    def keep_audio(self, block: np.ndarray, start: float) -> Iterator[np.ndarray]:
        """``store_audio`` as a context: keep ``block`` ((n,) float32 at 16 kHz, ``start``
        seconds into the visit) and yield the window to work on, zeroed on exit in
        privacy mode (on failure too), so no plaintext copy outlives its use."""
        window = self.store_audio(block, start)
        try:
            yield window
        finally:
            self.release(window)

    @contextmanager
    def held(self, array: np.ndarray) -> Iterator[np.ndarray]:
        """A plaintext copy derived from the visit's audio (a join, a carried-over tail):
        yielded back, zeroed on exit in privacy mode (on failure too)."""
        try:
            yield array
        finally:
            self.release(array)

    def store_text(self, text: str) -> None:
        self.mark_content(text)
        if self._text is not None:
            self._text.append(text)
        elif self._journal is not None:
            self._journal.append_text(text)

    def drop_audio(self) -> None:
        """The audio is no longer needed (the visit stopped and its note is drafted):
        destroy it now rather than at close. Privacy mode only; a kept visit keeps it."""
        if self._audio is not None:
            self._audio.close()
            self._audio = None

    def audio_source(self) -> "BufferAudioSource | None":
        """The visit's audio for a drafter that listens (``scribe.notes.AudioSource``):
        windows decrypted on demand from the encrypted buffer, zeroed on exit.

        None when this visit keeps no audio in memory: standard mode (its journal is
        sealed on disk, write-only and unindexed: reading a window back means decrypting
        every record before it, so a batch visit's drafter decodes the recording file
        instead, and a live one drafts from the transcript text), or after
        ``drop_audio``/``close``. What is appended after this call is seen by its
        windows; ``duration`` is read when asked."""
        if self._audio is None or self._audio.closed:
            return None
        return BufferAudioSource(self._audio)

    def mark_content(self, text: str) -> None:
        """Visit text that is shown but not kept (a partial line): the log filter must
        still know it."""
        if self.registry is not None:
            self.registry.add(text, self.visit_id)

    # -- outcome ------------------------------------------------------------------------

    def processed(self, **fields) -> None:
        self._record("visit_processed", **{**self.where, **fields})

    def signed(self, **fields) -> None:
        """Audit a signature (``note_signed``). From now on the visit's ``visit_closed``
        is recorded by :meth:`ended`, when its signed note leaves the caller, not by
        ``close``: exports of the signed note are recorded before the visit's end."""
        self._record("note_signed", **fields)
        self._awaiting_export = True

    def exported(self, **fields) -> None:
        self._record("note_exported", **fields)

    def close(self, *, discarded: bool = False, reason: str | None = None) -> None:
        """End the visit. Idempotent. In privacy mode nothing of it survives this call:
        every step runs even if an earlier one fails (a spill file that cannot be
        removed must not leave the key alive), and the first failure is re-raised."""
        if self._closed:
            return
        self._closed = True
        steps = [buf.close for buf in (self._audio, self._text) if buf is not None]
        if self._key is not None:
            steps.append(self._key.destroy)
        if self.registry is not None:
            steps.append(lambda: self.registry.clear(self.visit_id))
        if self._journal is not None:
            # A discarded standard-mode visit stays "open" in the store (so `scribe
            # recover` lists it) but its files are flushed and closed now. One that kept
            # nothing (an input refused before its first block) has nothing to recover:
            # it leaves the store, or `scribe recover` listed every refused file as a
            # crash-interrupted visit (issue 12 item 13).
            if discarded and self._journal.empty and self.store is not None:
                journal, store = self._journal, self.store
                steps += [journal.close, lambda: store.delete(self.visit_id)]
            else:
                steps.append(self._journal.close if discarded else self._journal.complete)
        failure: BaseException | None = None
        for step in steps:
            try:
                step()
            except BaseException as e:  # noqa: BLE001 - finish shredding first
                failure = failure or e
        duration = round(time.monotonic() - self._opened, 3)
        if discarded or failure is not None:
            self._end_recorded = True
            self._record("visit_discarded", reason=reason or "error", duration_seconds=duration)
        elif not self._awaiting_export:
            self._end_recorded = True
            self._record("visit_closed", duration_seconds=duration)
        if failure is not None:
            raise failure

    def ended(self, reason: str | None = None) -> None:
        """The visit's signed note has left (exported, then released: ``reason`` is one of
        ``privacy.audit.REASONS``, e.g. "user_request", "timeout", "service_stopped"):
        record ``visit_closed`` with the seconds since the visit opened, once. Does
        nothing for a visit whose end is already recorded or that was never signed and
        closed; a signed visit that is not closed yet is closed first."""
        if not self._awaiting_export or self._end_recorded:
            return
        self.close()
        self._end_recorded = True
        fields = {"reason": reason} if reason else {}
        self._record("visit_closed", duration_seconds=round(time.monotonic() - self._opened, 3), **fields)

    def __enter__(self) -> "Visit":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        reason = "user_stop" if exc_type is KeyboardInterrupt else "error" if exc_type else None
        self.close(discarded=exc_type is not None, reason=reason)

    def _record(self, event: str, **fields) -> None:
        if self.audit is not None:
            self.audit.record(event, self.visit_id, **fields)


class BufferAudioSource:
    """A privacy-mode visit's audio as an ``AudioSource`` (``scribe.notes.base``).

    ``duration``: seconds appended to the buffer so far. ``window(start, end)`` yields
    (n,) float32 samples at 16 kHz from ``start`` to ``end`` seconds (clipped to what the
    buffer holds, like slicing), decrypted by ``AudioBuffer.read_window``, and zeroes
    them on exit, on failure too: no plaintext copy outlives its window. Raises
    ``BufferClosedError`` once the visit has dropped its audio.
    """

    def __init__(self, buffer: AudioBuffer):
        self._buffer = buffer

    @property
    def duration(self) -> float:
        return self._buffer.duration

    @contextmanager
    def window(self, start: float, end: float) -> Iterator[np.ndarray]:
        samples = self._buffer.read_window(max(0.0, start), max(0.0, start, end))
        try:
            yield samples
        finally:
            zero(samples)
