"""The drafter seam: a role-labelled transcript and a template in, a visit note out.

Every note sentence cites the transcript segments it comes from (``NoteSentence.evidence``,
segment ids), so a reviewer can check it against what was said. A backend implements
``Drafter`` and is registered in ``DRAFTERS``; ``ScribeOptions.drafter`` (``--drafter``)
names the one to use.

A drafter that listens (``audio-llm``: an audio-language model drafting from the visit's
audio itself) is also given an ``AudioSource``: windows decrypted on demand from the
visit's buffer and zeroed when released. Model drafters report progress (steps done of
steps total: transcript chunks or audio windows) through ``DraftProgress``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Protocol

import numpy as np

from scribe.notes.templates import Template
from scribe.registry import Registry
from scribe.types import Note, Transcript


DraftProgress = Callable[[int, int], None]
"""Called by a model drafter after each step: (steps done, steps total). A step is a
transcript chunk (``llm``) or an audio window (``audio-llm``)."""


class AudioSource(Protocol):
    """A visit's audio, for a drafter that listens.

    ``duration`` is the visit's length in seconds. ``window(start, end)`` yields the audio
    from ``start`` to ``end`` seconds as (n,) float32 samples at 16 kHz, decrypted from the
    visit's buffer in privacy mode, and zeroes it on exit (on failure too): a drafter
    holds one window at a time and releases it before the next.
    """

    duration: float

    def window(self, start: float, end: float) -> AbstractContextManager[np.ndarray]:
        ...


class Drafter(Protocol):
    """Drafts a visit note.

    Attributes
    ----------
    name, version : str
        Echoed in every output as the ``"drafter"`` model.
    languages : tuple[str, ...]
        ISO 639-1 codes of the languages it writes notes in (optional; ``("en",)`` when
        absent: the templates' titles and the section model are English). A pipeline
        whose ``note_language`` is not among them is refused before any visit.
    listens : bool
        True for a drafter that drafts from the audio (``AudioSource``) as well as the
        transcript; ``draft_note`` passes it ``audio=`` and ``progress=``. A model drafter
        that does not listen (``llm``) sets ``reports_progress`` and gets ``progress=``.
        Both default to False (``getattr``): the embedded drafter takes neither.
    """

    name: str
    version: str

    def draft(self, transcript: Transcript, template: Template) -> Note:
        """A note with ``template``'s sections, in its order, from ``transcript``.

        Parameters
        ----------
        transcript : Transcript
            Segments with speakers and, ideally, roles (a drafter may label roles
            itself when every segment's role is ``UNKNOWN``).
        template : Template
            Sections, their cues and their empty-section text.

        Returns
        -------
        Note
            Every sentence's evidence is a subset of ``transcript.segment_ids()``; a
            section with nothing to say carries its template's empty text.
        """
        ...


def is_model_drafter(drafter: object) -> bool:
    """A drafter backed by a model (``llm``, ``audio-llm``: one that ``listens`` or
    ``reports_progress``), as an instance or its class: too slow for the growing live
    note, and the one ``--note-model`` names a model for."""
    return bool(getattr(drafter, "listens", False) or getattr(drafter, "reports_progress", False))


def draft_note(
    drafter: Drafter,
    transcript: Transcript,
    template: Template,
    *,
    audio: AudioSource | None = None,
    progress: DraftProgress | None = None,
) -> Note:
    """``drafter.draft`` plus what every note carries whatever its backend: the drafter's
    name and version, and the omission check (``scribe.notes.omissions``) run on the
    result. Batch, live and ``scribe draft`` all draft through this one call.

    ``audio`` goes to a drafter that listens (``drafter.listens``), ``progress`` to one
    that listens or ``reports_progress``; others are called as ``draft(transcript,
    template)``. A listening drafter given no audio (``scribe draft`` has transcripts
    only) decides itself what to do (``audio-llm`` drafts from the transcript text).

    The drafter reads the transcript in its note language (``Transcript.for_note``:
    speech said in another language as its translation, under the original segment's
    id, so evidence still points to what was said); the note is stamped with that
    language (``Note.language``)."""
    from scribe.notes.omissions import find_omissions

    transcript = transcript.for_note()
    if getattr(drafter, "listens", False):
        note = drafter.draft(transcript, template, audio=audio, progress=progress)  # type: ignore[call-arg]
    elif getattr(drafter, "reports_progress", False):
        note = drafter.draft(transcript, template, progress=progress)  # type: ignore[call-arg]
    else:
        note = drafter.draft(transcript, template)
    note = replace(note, drafter=drafter.name, drafter_version=drafter.version, language=transcript.note_language)
    return replace(note, omissions=find_omissions(transcript, note))


def check_note_language(drafter: Drafter, language: str, named: str = "--note-language") -> None:
    """Raise ``ModelError`` (exit code 4) when ``drafter`` does not write notes in
    ``language`` (its ``languages``, ``("en",)`` when it does not say); ``named`` is where
    the language came from, for the one line."""
    from scribe.errors import ModelError

    writes = tuple(getattr(drafter, "languages", ("en",)))
    if language not in writes:
        raise ModelError(f"{named} {language}: the {drafter.name} drafter writes notes in {', '.join(writes)} only")


DRAFTERS: Registry[Drafter] = Registry(
    "drafter",
    {
        "extractive": "scribe.notes.extractive:ExtractiveDrafter",
        "llm": "scribe.notes.llm:LlmDrafter",
        "audio-llm": "scribe.notes.audio_llm:AudioLlmDrafter",
    },
)
