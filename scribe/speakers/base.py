"""The speaker seams: who spoke when (``Diarizer``) and who each speaker is
(``RoleLabeller``).

A diarizer turns audio into speaker turns (a pyannote.core ``Annotation``: labels
``SPEAKER_00``, ``SPEAKER_01``, ... over spans in seconds). It works in a session, so a
long recording or a live stream is read once, piece by piece: ``extract`` computes a
piece's features (pure: may run on another thread and be thrown away), ``add`` keeps
them (and names provisional speakers, for live lines), ``finish`` gives the turns over
everything kept. How a backend does this (windows, embeddings, clustering and their
knobs) is its own business, not the protocol's.

A role labeller decides from what each speaker said who is the clinician, the patient
or someone else.

Backends are registered in ``DIARIZERS`` (``ScribeOptions.diarizer``, ``--diarizer``)
and ``ROLE_LABELLERS`` (``ScribeOptions.role_labeller``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
from pyannote.core import Annotation, Timeline

from scribe.registry import Registry
from scribe.types import ModelInfo, Transcript

F = TypeVar("F")  # a backend's features of one piece of audio


class DiarizationSession(Protocol[F]):
    """Speaker turns of one visit, built piece by piece.

    Attributes
    ----------
    enrolled : Mapping[str, str]
        After ``finish``: speaker label -> id (or label) of the enrolled voice that
        speaker is (``scribe.speakers.enrolled``); empty when the session was given no
        voices, none was heard, or the backend does not use them.
    """

    enrolled: Mapping[str, str]

    def extract(self, audio: np.ndarray, speech: Timeline, offset: float = 0.0) -> F:
        """Features of the speech in ``audio``; changes nothing in the session.

        Parameters
        ----------
        audio : np.ndarray
            (n,) float32 at 16 kHz, mono; read, not modified, not kept.
        speech : pyannote.core.Timeline
            Its speech regions, seconds from the start of the visit.
        offset : float
            Seconds into the visit where ``audio`` starts.
        """
        ...

    def add(self, features: F, spans: Sequence[tuple[float, float]] = ()) -> list[str | None]:
        """Keep ``features`` for ``finish``; return a provisional speaker label for each
        of ``spans`` ((start, end) seconds, in order; live lines), or None for a span the
        features say nothing about. Labels given here may differ from the final ones."""
        ...

    def finish(self) -> Annotation:
        """Speaker turns over everything added (empty if nothing was)."""
        ...


class Diarizer(Protocol[F]):
    """Tells speakers apart.

    Attributes
    ----------
    model_info : ModelInfo
        The model, echoed in every output.
    """

    model_info: ModelInfo

    def session(self, num_speakers: int | None = None, voices: Sequence[Any] = ()) -> DiarizationSession[F]:
        """A new session for one visit; ``num_speakers``: the visit's known speaker
        count (``--speakers``), None to estimate it; ``voices``: enrolled clinicians'
        voices (``privacy.voiceprints.Voiceprint``s or (label, (d,) vector) pairs) the
        session may find among the speakers (``enrolled`` after ``finish``)."""
        ...


def diarize(
    diarizer: Diarizer, audio: np.ndarray, speech: Timeline, num_speakers: int | None = None, voices: Sequence[Any] = ()
) -> Annotation:
    """Speaker turns of one whole recording ((n,) float32 at 16 kHz, starting at 0 s) in
    a single session."""
    session = diarizer.session(num_speakers, voices)
    session.add(session.extract(audio, speech))
    return session.finish()


class RoleLabeller(Protocol):
    """Gives every speaker of a transcript a role.

    Attributes
    ----------
    model_info : ModelInfo
        The labeller, echoed in every output (kind ``"role-labeller"``).
    """

    model_info: ModelInfo

    def label(self, transcript: Transcript) -> Transcript:
        """A new transcript with each segment's ``role`` set and ``speakers`` (label ->
        Role) filled; segments without a speaker keep ``Role.UNKNOWN``."""
        ...


DIARIZERS: Registry[Diarizer] = Registry(
    "diarizer",
    {
        "embedding": "scribe.speakers.embedding:EmbeddingDiarizer",
        # optional: the scribe[pyannote] extra and a local pipeline folder (--diarizer-model)
        "pyannote": "scribe.speakers.pyannote_diarizer:PyannoteDiarizer",
    },
)

ROLE_LABELLERS: Registry[RoleLabeller] = Registry(
    "role-labeller",
    {"cues": "scribe.speakers.roles:CueRoleLabeller"},
)
