"""Omission check: salient facts said in the visit that the note does not carry.

Placeholder while the checker is built (issue 10): finds nothing.
"""

from __future__ import annotations

from scribe.types import Note, Omission, Transcript


def find_omissions(transcript: Transcript, note: Note) -> tuple[Omission, ...]:
    return ()
