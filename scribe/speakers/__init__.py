"""Speakers: who spoke when (diarization), which words each said (alignment), and who
each speaker is (roles).

Seams: ``Diarizer`` (a session per visit: ``extract`` / ``add`` / ``finish`` ->
pyannote.core ``Annotation``; ``diarize`` for one whole recording) and ``RoleLabeller``
(``label(transcript) -> Transcript``). Backends are listed in ``DIARIZERS`` (default
``embedding``: resemblyzer windows + k-means, ``embedding.py``) and ``ROLE_LABELLERS``
(default ``cues``: what each speaker says, ``roles.py``). A new diarizer or role labeller
is one module here implementing the protocol, plus one entry in its registry
(``scribe/speakers/base.py``). ``alignment`` gives recognised words to speaker turns
whatever the backends. Importing this package loads no model.
"""

from scribe.speakers.alignment import attribute_speakers
from scribe.speakers.base import (
    DIARIZERS,
    ROLE_LABELLERS,
    DiarizationSession,
    Diarizer,
    RoleLabeller,
    diarize,
)
from scribe.speakers.turns import OVERLAP_MARKER, is_marker, mark_unrecognised_overlap, speech_turns

__all__ = [
    "DIARIZERS",
    "ROLE_LABELLERS",
    "DiarizationSession",
    "OVERLAP_MARKER",
    "Diarizer",
    "RoleLabeller",
    "attribute_speakers",
    "diarize",
    "is_marker",
    "mark_unrecognised_overlap",
    "speech_turns",
]
