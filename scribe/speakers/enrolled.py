"""Enrolled clinician voices: making a voiceprint, and finding its speaker in a visit.

A voiceprint is the mean of the unit window embeddings of ~20 s of one clinician's
speech (the embedding diarizer's windows over VAD speech, the bundled resemblyzer
encoder), renormalised. It is stored sealed under the site key by
``privacy.voiceprints.VoiceprintStore``.

In a visit, ``apply_voices`` takes the diarizer's windows, its speaker turns and the
enrolled voices: a speaker whose windows match a voice (mean cosine to the voiceprint
at least ``CLUSTER_SIMILARITY``) is that clinician, and every such speaker is merged into
one (one voice is one speaker); windows clustered elsewhere that match the voice closely
(``WINDOW_SIMILARITY``, and closer to it than to their own speaker) are moved to it.
When no speaker matches but enough windows do (``MIN_VOICE_WINDOWS``: the clustering
merged the clinician with someone), those windows are the clinician and every other
window keeps the speaker the diarizer gave it (the rest are not clustered again).
The pipeline then gives that speaker ``Role.CLINICIAN`` before role labelling.

Thresholds, measured once with the bundled encoder (an ad-hoc script, not kept; the
samples' separation is re-checked by ``tests/test_enrollment.py``, the roles by
``benchmarks/enrollment_roles.py``): a voiceprint from ~20 s of one voice against 1.6 s
windows of a different text by flite rms, slt, awb, kal16 and espeak-ng en-us, en,
en-us+m3 (the three espeak variants are one synthesizer and were not counted as
different voices):

- same voice: window cosine min 0.773 (5th percentile 0.826), speaker means min 0.857;
- other voices: window cosine max 0.80 (awb's windows against rms's print), speaker
  means max 0.75;
- the samples, voiceprint of flite rms: clinician windows mean 0.90 (min 0.68, at turn
  edges), patient windows max 0.74, mean 0.64.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

from scribe.errors import InputError
from scribe.types import ModelInfo

if TYPE_CHECKING:
    from privacy.voiceprints import Voiceprint
    from scribe.speakers.embedding import WindowEmbeddings

# A speaker is an enrolled voice when its windows' mean cosine to the voiceprint reaches
# this: between the other voices' highest speaker mean (0.75) and the same voice's lowest
# (0.857), measured as in the module doc.
CLUSTER_SIMILARITY = 0.80
# A window clustered elsewhere moves to the voice at this cosine (and when closer to the
# voice than to its own speaker): above every other-voice window measured (max 0.80),
# below the same voice's 5th percentile (0.826).
WINDOW_SIMILARITY = 0.82
# Windows (0.25 s apart, 1.6 s long) needed to call an unclustered voice present: ~2 s of
# speech, the embedding diarizer's own least for telling voices apart.
MIN_VOICE_WINDOWS = 8
# A run of one speaker's windows (one speech region) long enough to judge on its own:
# 1 s of window centres. Shorter runs at turn edges mix two voices.
MIN_RUN_WINDOWS = 4

# Enrollment: speech needed, and the one-voice check.
MIN_ENROLL_SPEECH = 8.0  # seconds of VAD speech; 12 s of flite rms gave a print as stable as 25 s
# The recording's windows split in two by k-means: the two halves' centroids have cosine
# 0.930-0.966 for one voice (flite rms, slt, awb, kal16; espeak-ng en-us, en; the
# aci_d2n_visit clinician's and patient's turns) and 0.594-0.822 for two voices taking
# turns (rms+slt, rms+awb, rms+kal16, awb+kal16, rms+espeak, the aci_d2n_visit turns of
# both); 0.88 lies between.
ONE_VOICE_SIMILARITY = 0.88

# What a clinician reads aloud to enroll (~20 s at a visit's pace): varied sounds, the
# words of an exam room. The recorder page shows the same text.
ENROLLMENT_TEXT = (
    "I am recording my voice so that the scribe can tell my speech from my patients'. "
    "Please take a deep breath in, and out. We will check your blood pressure today, then "
    "talk about your medicines and the plan for follow up. The quick brown fox jumps over "
    "the lazy dog. Rainbows appear when sunlight passes through drops of rain after a storm."
)

logger = logging.getLogger("scribe.speakers.enrolled")

# The diarizers (``scribe.speakers.DIARIZERS`` names) that find enrolled voices among
# their speakers (the embedding diarizer's windows); pyannote's session does not use them
# yet, so naming a voice with it is refused (CLI --clinician, the service's visits).
VOICE_DIARIZERS = frozenset({"embedding"})

VoiceLike = Any  # a privacy.voiceprints.Voiceprint, or a (label, vector) pair


class EnrollmentError(InputError):
    """An enrollment recording that cannot make a voiceprint: too little speech, or more
    than one voice (exit code 2)."""


def known_voices(voices: Sequence[VoiceLike], model: str | None = None) -> list[tuple[str, np.ndarray]]:
    """``voices`` as (id or label, (d,) unit float32 vector) pairs; a voiceprint made by
    another encoder than ``model`` is left out (its vector means nothing here), with one
    WARNING naming its id and the two models (never the clinician's name)."""
    out = []
    for v in voices:
        if isinstance(v, tuple):
            key, vector = v
        else:
            if model is not None and getattr(v, "model", model) != model:
                logger.warning("enrolled voice %s not used: made by encoder %s, this diarizer's is %s "
                               "(enroll again to use it)", v.id, v.model, model)
                continue
            key, vector = v.id, v.vector
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        out.append((str(key), vector / (np.linalg.norm(vector) + 1e-9)))
    return out


def encoder_name(info: ModelInfo) -> str:
    """The name a voiceprint records for the encoder that made it (``name:version``)."""
    return f"{info.name}:{info.version}"


def make_voiceprint(diarizer: Any, detector: Any, audio: np.ndarray, source: str) -> np.ndarray:
    """The voiceprint of one clinician's enrollment recording.

    Parameters
    ----------
    diarizer : scribe.speakers.embedding.EmbeddingDiarizer
        Its ``embed`` makes the windows (the same encoder visits are diarized with).
    detector : scribe.audio.VoiceActivityDetector
        Finds the speech.
    audio : np.ndarray
        (n,) float32 at 16 kHz; read, not kept (the caller zeroes it).
    source : str
        The recording's name in errors (a path, or "microphone").

    Returns
    -------
    np.ndarray
        (d,) float32, unit norm: the mean of the unit window vectors, renormalised.

    Raises
    ------
    EnrollmentError
        Less than ``MIN_ENROLL_SPEECH`` s of speech, or more than one voice.
    """
    from scribe.speakers.embedding import _centroids, _kmeans

    speech: Timeline = detector(audio)
    seconds = sum(r.duration for r in speech)
    if seconds < MIN_ENROLL_SPEECH:
        raise EnrollmentError(
            source, f"too little speech to enroll ({seconds:.1f} s; at least {MIN_ENROLL_SPEECH:.0f} s, about 20 s is best)"
        )
    windows = diarizer.embed(audio, speech)
    x = windows.vectors
    similarity = 1.0
    if len(x) >= MIN_VOICE_WINDOWS:
        halves = _centroids(x, _kmeans(x, 2))  # (2, d) unit; one row if k-means found one cluster
        similarity = float(halves[0] @ halves[-1])
    if similarity < ONE_VOICE_SIMILARITY:
        raise EnrollmentError(source, "more than one voice in the recording; enroll with one speaker only")
    v = x.mean(axis=0)
    return (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)


def apply_voices(
    windows: WindowEmbeddings,
    annotation: Annotation,
    voices: Sequence[tuple[str, np.ndarray]],
    num_speakers: int | None = None,
) -> tuple[Annotation, dict[str, str]]:
    """Speaker turns with the enrolled voices found.

    Parameters
    ----------
    windows : WindowEmbeddings
        The session's windows (``spans`` (n, 2) seconds, ``vectors`` (n, d) unit).
    annotation : pyannote.core.Annotation
        The diarizer's turns over those windows.
    voices : sequence of (id, vector)
        ``known_voices`` of the enrolled voices.
    num_speakers : int, optional
        The visit's known speaker count (``--speakers``): a companion is then never
        counted beyond it.

    Returns
    -------
    (Annotation, dict)
        The turns (speakers ``SPEAKER_00``... in order of first appearance) and speaker
        label -> voice id for each voice found.
    """
    if not voices or len(windows) == 0 or not annotation:
        return annotation, {}
    base = _labels_at(annotation, windows.spans)
    V = np.stack([v for _, v in voices])
    sims = windows.vectors @ V.T  # (n, voices)
    owner = np.full(len(windows), -1)
    centroid: dict[str, np.ndarray] = {}
    for lab in sorted(set(base) - {""}):
        mine = base == lab
        c = windows.vectors[mine].mean(axis=0)
        centroid[lab] = c / (np.linalg.norm(c) + 1e-9)
        means = sims[mine].mean(axis=0)
        j = int(np.argmax(means))
        if means[j] >= CLUSTER_SIMILARITY:
            owner[mine] = j
    clustered = set(owner[owner >= 0].tolist())
    _take_out_companion(windows, base, owner, sims, centroid, num_speakers)
    # Windows of other speakers (or none) that are the voice's more than their own.
    for i in np.flatnonzero(owner < 0):
        j = int(np.argmax(sims[i]))
        own = float(windows.vectors[i] @ centroid[base[i]]) if base[i] in centroid else -1.0
        if sims[i, j] >= WINDOW_SIMILARITY and sims[i, j] > own:
            owner[i] = j
    for j in range(len(voices)):
        if j not in clustered and np.count_nonzero(owner == j) < MIN_VOICE_WINDOWS:
            owner[owner == j] = -1  # a few close windows are not a voice in the visit
    if not np.any(owner >= 0):
        return annotation, {}
    keys = [f"voice:{owner[i]}" if owner[i] >= 0 else f"rest:{base[i]}" for i in range(len(windows))]
    turns, names = _annotation(windows, keys)
    turns.uri = annotation.uri
    enrolled = {names[k]: voices[int(k.split(":")[1])][0] for k in names if k.startswith("voice:")}
    return turns, enrolled


def provisional_voices(centroids: Sequence[np.ndarray], voices: Sequence[tuple[str, np.ndarray]]) -> dict[str, str]:
    """Live lines' provisional speakers (``SPEAKER_%02d`` by index of ``centroids``, each
    (d,), any norm) that are an enrolled voice: cosine to its voiceprint at least
    ``CLUSTER_SIMILARITY``, as a final speaker's windows must be."""
    out = {}
    for k, c in enumerate(centroids):
        c = np.asarray(c) / (np.linalg.norm(c) + 1e-9)
        if voices:
            sims = [float(c @ v) for _, v in voices]
            j = int(np.argmax(sims))
            if sims[j] >= CLUSTER_SIMILARITY:
                out[f"SPEAKER_{k:02d}"] = voices[j][0]
    return out


def _labels_at(annotation: Annotation, spans: np.ndarray) -> np.ndarray:
    """The speaker of each window (its centre's turn), "" where no turn covers it."""
    tracks = sorted((s.start, s.end, str(lab)) for s, _, lab in annotation.itertracks(yield_label=True))
    out = np.full(len(spans), "", dtype=object)
    if not tracks:
        return out
    starts = np.array([t[0] for t in tracks])
    centres = spans.mean(axis=1)
    idx = np.searchsorted(starts, centres, side="right") - 1
    for i, (c, t) in enumerate(zip(centres, idx)):
        # A centre past its turn's end may still be inside an earlier, longer turn.
        for k in range(t, max(t - 4, -1), -1):
            if tracks[k][0] <= c <= tracks[k][1] + 1e-6:
                out[i] = tracks[k][2]
                break
    return out


def _take_out_companion(
    windows: WindowEmbeddings, base: np.ndarray, owner: np.ndarray, sims: np.ndarray, centroid: dict[str, np.ndarray],
    num_speakers: int | None = None,
) -> None:
    """Runs of a speaker matched to a voice that are not that voice (a companion the
    clustering merged with the clinician; run mean cosine under ``CLUSTER_SIMILARITY``)
    are taken from it (``owner`` -1, in place) when there are at least
    ``MIN_VOICE_WINDOWS`` of them, and counted: the unmatched speaker they sound like
    (centroid cosine at least ``ONE_VOICE_SIMILARITY``, or the closest when the known
    ``num_speakers`` are all there), else a new speaker (``base`` set to
    ``"companion"``, in place)."""
    others = [lab for lab in centroid if not np.any(owner[base == lab] >= 0)]
    leftover = np.zeros(len(base), dtype=bool)
    start = 0
    for i in range(1, len(base) + 1):
        if i < len(base) and base[i] == base[start] and windows.region[i] == windows.region[start]:
            continue
        j = owner[start]
        if j >= 0 and i - start >= MIN_RUN_WINDOWS and sims[start:i, j].mean() < CLUSTER_SIMILARITY:
            leftover[start:i] = True
        start = i
    if np.count_nonzero(leftover) < MIN_VOICE_WINDOWS:
        return
    c = windows.vectors[leftover].mean(axis=0)
    c /= np.linalg.norm(c) + 1e-9
    best = max(others, key=lambda lab: float(c @ centroid[lab]), default=None)
    full = num_speakers is not None and len(centroid) >= num_speakers
    if full and best is None:
        return  # no room for another speaker, and nobody else to give the runs to
    owner[leftover] = -1
    if best is not None and (full or float(c @ centroid[best]) >= ONE_VOICE_SIMILARITY):
        base[leftover] = best
    else:
        base[leftover] = "companion"


def _annotation(windows: WindowEmbeddings, keys: list[str]) -> tuple[Annotation, dict[str, str]]:
    """Turns from per-window speaker keys: speakers named ``SPEAKER_00``... by first
    appearance; consecutive windows of one speaker in one speech region joined."""
    names: dict[str, str] = {}
    for k in keys:
        names.setdefault(k, f"SPEAKER_{len(names):02d}")
    annotation = Annotation()
    cur = None  # (start, end, name, region)
    for (s, e), k, reg in zip(windows.spans, keys, windows.region):
        name = names[k]
        if cur is not None and cur[2] == name and cur[3] == reg and s <= cur[1] + 1e-6:
            cur = (cur[0], max(cur[1], e), name, reg)
            continue
        if cur is not None:
            annotation[Span(cur[0], cur[1])] = cur[2]
        cur = (float(s), float(e), name, reg)
    if cur is not None:
        annotation[Span(cur[0], cur[1])] = cur[2]
    return annotation.support(), names


def load_voices(ids: Sequence[str] | None = None) -> list[Voiceprint]:
    """The site's enrolled voices (``privacy.voiceprints``): every one (``ids`` None), or
    those ``ids`` name (none for an empty list; ``StoreError``, one line, for an id not
    enrolled)."""
    from privacy.voiceprints import VoiceprintStore

    store = VoiceprintStore()
    if ids is not None:
        return [store.get(i) for i in ids]
    return store.list()


def enroll(audio: np.ndarray, name: str, diarizer: Any, detector: Any, source: str, store: Any = None, audit: Any = None) -> Voiceprint:
    """Make, keep and audit one clinician's voiceprint (``scribe enroll``, the service's
    ``POST /api/voices``).

    Parameters
    ----------
    audio : np.ndarray
        (n,) float32 at 16 kHz: the enrollment recording. Zeroed here, kept nowhere.
    name : str
        The clinician's name (sealed with the voiceprint; never audited).
    diarizer, detector
        The embedding diarizer (``embed``) and the VAD.
    source : str
        The recording's name in errors.
    store : privacy.voiceprints.VoiceprintStore, optional
        Default: the site's.
    audit : privacy.audit.AuditLog, optional
        Default: the site's; ``voice_enrolled`` with the id and the model only.

    Raises
    ------
    EnrollmentError
        Too little speech, or more than one voice (exit code 2).
    ScribeError
        The diarizer cannot embed (another backend), or the store cannot write.
    """
    from privacy.audit import AuditLog
    from privacy.voiceprints import VoiceprintStore
    from scribe.errors import ScribeError

    try:
        if not hasattr(diarizer, "embed"):
            raise ScribeError("enrollment needs the embedding diarizer (--diarizer embedding)")
        vector = make_voiceprint(diarizer, detector, audio, source)
    finally:
        audio[:] = 0  # the recording is never kept
    voice = (store or VoiceprintStore()).add(name, encoder_name(diarizer.model_info), vector)
    (audit or AuditLog()).record("voice_enrolled", voice.id, model=voice.model)
    return voice


def delete_voice(voice_id: str, store: Any = None, audit: Any = None) -> None:
    """Delete an enrolled voice, leaving nothing of it (``VoiceprintStore.delete``), and
    audit ``voice_deleted`` with its id. ``StoreError`` for an id not enrolled."""
    from privacy.audit import AuditLog
    from privacy.voiceprints import VoiceprintStore

    (store or VoiceprintStore()).delete(voice_id)
    (audit or AuditLog()).record("voice_deleted", voice_id)
