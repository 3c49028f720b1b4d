"""The drafter seam: a role-labelled transcript and a template in, a visit note out.

Every note sentence cites the transcript segments it comes from (``NoteSentence.evidence``,
segment ids), so a reviewer can check it against what was said. A backend implements
``Drafter`` and is registered in ``DRAFTERS``; ``ScribeOptions.drafter`` (``--drafter``)
names the one to use.
"""

from __future__ import annotations

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


DRAFTERS: Registry[Drafter] = Registry(
    "drafter",
    {"extractive": "scribe.notes.extractive:ExtractiveDrafter"},
)
