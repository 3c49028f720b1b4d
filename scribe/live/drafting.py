"""A stopped live visit's note drafted by a model drafter, off the thread that serves
live audio.

A model drafter (``llm``, ``audio-llm``: one that ``listens`` or ``reports_progress``)
is far too slow for the growing note, so a live visit drafts as it goes with the
embedded ``extractive`` drafter (``live_pipeline``), and at Stop the model drafts once,
on the final transcript, as a ``ModelDraft``: a job the capture service runs on its
single drafting worker (one visit at a time, never on the compute thread that serves
the rooms' audio) and ``scribe record`` runs in place.

The job holds what it drafts from (transcript, template, the visit's ``AudioSource``
for a drafter that listens) and reports progress; ``cancel`` makes it stop at the
drafter's next progress step, and its result is then ignored. A job cancelled while the
model runs hands the closing of the visit to the drafting thread (``then``), so the
visit's audio is never destroyed under a drafter that is reading it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from scribe.notes.base import AudioSource, Drafter, draft_note, is_model_drafter
from scribe.notes.templates import Template
from scribe.types import Note, Transcript

logger = logging.getLogger("scribe.live.drafting")

EMBEDDED = "extractive"


def live_pipeline(pipeline: Any) -> tuple[Any, Drafter | None]:
    """``(pipeline for live capture, model drafter or None)``. When ``pipeline``'s drafter
    is a model drafter, the live pipeline is the same loaded components with the
    embedded drafter (the growing note and the note shown at Stop), and the model
    drafter is returned apart, to draft once at Stop; otherwise ``(pipeline, None)``."""
    from scribe.notes.base import DRAFTERS
    from scribe.pipeline import Pipeline

    if not is_model_drafter(pipeline.drafter):
        return pipeline, None
    options = replace(pipeline.options, drafter=EMBEDDED)
    live = Pipeline(
        options,
        speech_model=pipeline.speech_model,
        detector=pipeline.detector,
        diarizer=pipeline.diarizer,
        role_labeller=pipeline.role_labeller,
        drafter=DRAFTERS.create(EMBEDDED, options),
        voices=pipeline.voices,
    )
    live.template = pipeline.template
    return live, pipeline.drafter


def model_label(drafter: Drafter) -> str:
    """The model a drafter runs, as the page names it: its folder or file name."""
    path = getattr(drafter, "path", None)
    return Path(path).name if path else drafter.version


def audio_source(visit: Any) -> AudioSource | None:
    """The visit's audio for a drafter that listens (``privacy.visit.Visit.audio_source``,
    None when it has none or no longer has it)."""
    source = getattr(visit, "audio_source", None)
    return source() if callable(source) else None


# The drafting thread's niceness: above the live threads' 0, so that on a busy machine
# the scheduler serves live transcription first and the model drafts with what is left.
DRAFTING_NICE = 10


def background_thread(nice: int = DRAFTING_NICE, threads: int | None = None) -> None:
    """Make the calling thread (the drafting worker) a background one, before its first
    torch work: ``nice`` more than now (Linux: per thread; the threads torch starts from
    it inherit it) and, when given, ``threads`` torch threads for it (torch's count is
    per thread: the live threads keep theirs)."""
    if nice and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + nice))
        except OSError:  # pragma: no cover - not allowed here: run at the normal priority
            logger.warning("drafting thread: cannot lower its priority")
    if threads is not None:
        limit_torch_threads(threads)


def limit_torch_threads(threads: int | None = None) -> int | None:
    """Run the calling thread's torch work on ``threads`` threads (default: half the
    cores, at least one). Returns the count set, or None without torch."""
    try:
        import torch
    except ImportError:  # pragma: no cover - a dependency
        return None
    n = threads or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(n)
    return n


class DraftCancelled(Exception):
    """The visit was discarded (or its roles swapped) while the model drafted."""


class ModelDraft:
    """One model draft of a stopped visit's note: queued, running, then done, failed or
    cancelled. ``run`` (on the drafting thread) returns the note; ``progress`` is read
    from any thread; ``cancel`` from the thread that drives the visit.

    ``generation`` tells a superseded draft's result from the current one (a role swap
    starts a new draft)."""

    def __init__(self, drafter: Drafter, transcript: Transcript, template: Template,
                 audio: AudioSource | None, generation: int = 0):
        self.drafter = drafter
        self.name = drafter.name
        self.model = model_label(drafter)
        self.generation = generation
        self._transcript: Transcript | None = transcript
        self._template = template
        self._audio = audio
        self._lock = threading.Lock()
        self.state = "queued"
        self.done = 0
        self.total = 0
        self.error: str | None = None
        self._then: Callable[[], None] | None = None

    @property
    def pending(self) -> bool:
        return self.state in ("queued", "running")

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> Note | None:
        """Draft (on the drafting thread); None when cancelled or failed (``error`` then
        says why in one line, never quoting the visit: a ``ModelError``'s line, else the
        exception's type). ``on_progress(done, total)``
        after each of the drafter's steps."""
        with self._lock:
            if self.state != "queued":
                return None
            self.state = "running"
            transcript = self._transcript

        def progress(done: int, total: int) -> None:
            with self._lock:
                self.done, self.total = done, total
                cancelled = self.state == "cancelled"
            if cancelled:
                raise DraftCancelled
            if on_progress is not None:
                on_progress(done, total)

        note: Note | None = None
        try:
            assert transcript is not None
            note = draft_note(self.drafter, transcript, self._template, audio=self._audio, progress=progress)
        except DraftCancelled:
            pass
        except Exception as e:  # the model's failure is the draft's, never the visit's
            # Type only in the log: an exception message could quote the visit.
            logger.error("model draft failed (%s)", type(e).__name__)
            with self._lock:
                if self.state == "running":
                    self.state = "failed"
                    self.error = _failure(self.name, e)
        finally:
            self._transcript = None
            self._audio = None
            with self._lock:
                then, self._then = self._then, None
                if self.state == "running":
                    self.state = "done" if note is not None else "failed"
                    if note is None and self.error is None:
                        self.error = f"drafting with {self.name} gave no note"
            if then is not None:
                try:
                    then()
                except Exception as e:  # the visit's close, reported by type only
                    logger.error("closing a visit discarded mid-draft failed (%s)", type(e).__name__)
        return note if self.state == "done" else None

    def cancel(self, then: Callable[[], None] | None = None) -> bool:
        """Stop at the drafter's next step and ignore the result. When the model is
        running now, ``then`` is called on the drafting thread once it has let go of the
        visit's audio, and True returned; otherwise False (the caller does it now)."""
        with self._lock:
            running = self.state == "running"
            if self.state in ("queued", "running"):
                self.state = "cancelled"
            if running and then is not None:
                self._then = then
            if not running:
                self._transcript = None
                self._audio = None
        return running and then is not None


def _failure(name: str, e: BaseException) -> str:
    from scribe.errors import ModelError
    from scribe.notes.hf import first_line

    if isinstance(e, MemoryError):
        return f"drafting with {name} ran out of memory"
    if isinstance(e, ModelError):  # one line about the model (its folder, its context), never the visit
        return f"drafting with {name} failed: {first_line(e)}"
    return f"drafting with {name} failed ({type(e).__name__})"
