"""The drafter seam: a role-labelled transcript and a template in, a visit note out.

Every note sentence cites the transcript segments it comes from (``NoteSentence.evidence``,
segment ids), so a reviewer can check it against what was said. A backend implements
``Drafter`` and is registered in ``DRAFTERS``; ``ScribeOptions.drafter`` (``--drafter``)
names the one to use.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from scribe.notes.templates import Template
from scribe.registry import Registry
from scribe.types import Note, Transcript


class Drafter(Protocol):
    """Drafts a visit note.

    Attributes
    ----------
    name, version : str
        Echoed in every output as the ``"drafter"`` model.
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


def draft_note(drafter: Drafter, transcript: Transcript, template: Template) -> Note:
    """``drafter.draft`` plus what every note carries whatever its backend: the drafter's
    name and version, and the omission check (``scribe.notes.omissions``) run on the
    result. Batch, live and ``scribe draft`` all draft through this one call."""
    from scribe.notes.omissions import find_omissions

    note = drafter.draft(transcript, template)
    note = replace(note, drafter=drafter.name, drafter_version=drafter.version)
    return replace(note, omissions=find_omissions(transcript, note))


DRAFTERS: Registry[Drafter] = Registry(
    "drafter",
    {"extractive": "scribe.notes.extractive:ExtractiveDrafter", "llm": "scribe.notes.llm:LlmDrafter"},
)
