"""The embedding diarizer: sliding-window speaker embeddings over VAD speech, then
clustering. Registered as ``"embedding"`` (``scribe.speakers.DIARIZERS``).

Two stages so a long recording (or a live stream) never needs its audio twice:
``embed`` runs per block and keeps only small embedding vectors (a session's
``extract``); ``cluster`` runs once over all of them and returns a pyannote.core
``Annotation`` (a session's ``finish``). Live lines get provisional speakers from online
assignment of their windows to the speakers heard so far (``OnlineSpeakers``). The knobs
are ``DiarizationParams`` (``ScribeOptions.diarization``), this backend's alone.

Why windows and not one embedding per VAD region: in fast exam-room turn-taking a region
often holds two voices; 1.6 s windows every 0.5 s separate them, then a median filter
removes one-window flickers. Average-linkage clustering was measured to collapse two
speakers into one here; k-means does not.

How many speakers (``count_speakers``, unless ``--speakers`` fixes it): the largest k
whose k-means centroids are all distinct voices, each holding enough speech in runs at
least a window long, counted on the windows wholly inside speech; then k-means over
every window with that k. Measured with ``benchmarks/speaker_count.py`` on synthetic
1-, 2- and 3-voice visits (``tests/voice_visits.py``) and ami-debug.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

from privacy import SAMPLE_RATE
from scribe.models import speaker_encoder
from scribe.options import DiarizationParams, ScribeOptions
from scribe.speakers.enrolled import apply_voices, encoder_name, known_voices, provisional_voices

logger = logging.getLogger("scribe.speakers.embedding")

_FRAMES_PER_SECOND = 100  # resemblyzer's mel hop is 10 ms
_MIN_WINDOWS_TO_COUNT = 8  # ~2 s of speech: too little to tell voices apart
_BATCH = 64  # measured: faster than 256 on 2 cores, and 90 MB less peak memory


@dataclass(frozen=True)
class WindowEmbeddings:
    """Embeddings of speech windows (this backend's features): ``spans[i]`` is the part
    of the timeline that window i speaks for (its centre +/- step/2, inside its speech
    region)."""

    spans: np.ndarray  # (n, 2) seconds
    region: np.ndarray  # (n,) index of the speech region the window belongs to
    vectors: np.ndarray  # (n, d), unit norm
    # (n,) bool: the window's audio lies wholly inside its speech region (no silence or
    # neighbouring sound at its edges); None: every window does. Speakers are counted on
    # these windows (``count_speakers``).
    inside: np.ndarray | None = None

    @classmethod
    def empty(cls, dim: int = 256) -> "WindowEmbeddings":
        return cls(np.zeros((0, 2)), np.zeros(0, dtype=int), np.zeros((0, dim), np.float32), np.zeros(0, bool))

    @property
    def clean(self) -> np.ndarray:
        """(n,) bool: ``inside``, all True when it is None."""
        return np.ones(len(self), bool) if self.inside is None else self.inside

    def __len__(self) -> int:
        return len(self.vectors)

    def concat(self, other: "WindowEmbeddings") -> "WindowEmbeddings":
        shift = int(self.region.max()) + 1 if len(self) else 0
        return WindowEmbeddings(
            np.concatenate([self.spans, other.spans]),
            np.concatenate([self.region, other.region + shift]),
            np.concatenate([self.vectors, other.vectors]),
            np.concatenate([self.clean, other.clean]),
        )


@dataclass
class OnlineSpeakers:
    """Provisional speakers for live lines, assigned as the lines are committed.

    A line's voice is the mean of the window vectors overlapping it; it joins the most
    similar speaker so far (cosine, against the sum of that speaker's voices) when the
    similarity reaches ``new_speaker_similarity`` or ``max_speakers`` are known, else it
    starts a new speaker. Labels ``SPEAKER_00``, ``SPEAKER_01``, ... in order of first
    appearance. The final clustering may name speakers differently.
    """

    new_speaker_similarity: float = 0.75
    max_speakers: int = 4
    centroids: list[np.ndarray] = field(default_factory=list)

    def assign(self, windows: WindowEmbeddings, start: float, end: float) -> str | None:
        """The speaker of the span ``start``-``end`` (seconds) among ``windows``; None if
        no window overlaps it."""
        mine = [i for i, (s, e) in enumerate(windows.spans) if s < end and e > start]
        if not mine:
            return None
        v = windows.vectors[mine].mean(axis=0)
        v /= np.linalg.norm(v) + 1e-9
        if self.centroids:
            sims = [float(c @ v / (np.linalg.norm(c) + 1e-9)) for c in self.centroids]
            best = int(np.argmax(sims))
            if sims[best] >= self.new_speaker_similarity or len(self.centroids) >= self.max_speakers:
                self.centroids[best] = self.centroids[best] + v
                return f"SPEAKER_{best:02d}"
        self.centroids.append(v)
        return f"SPEAKER_{len(self.centroids) - 1:02d}"


class EmbeddingSession:
    """One visit's windows (``scribe.speakers.DiarizationSession`` over
    ``WindowEmbeddings``)."""

    def __init__(self, diarizer: "EmbeddingDiarizer", num_speakers: int | None = None, voices: Sequence = ()):
        self._diarizer = diarizer
        self._num_speakers = num_speakers
        # Enrolled voices (scribe.speakers.enrolled), as (id, vector) of this encoder.
        self._voices = known_voices(voices, encoder_name(diarizer.model_info)) if voices else []
        self._enrolled: dict[str, str] | None = None  # set by finish
        self._windows = WindowEmbeddings.empty()
        p = diarizer.params
        self._online = OnlineSpeakers(p.new_speaker_similarity, p.max_speakers)

    def extract(self, audio: np.ndarray, speech: Timeline, offset: float = 0.0) -> WindowEmbeddings:
        """``EmbeddingDiarizer.embed``: thread-safe with respect to the session."""
        return self._diarizer.embed(audio, speech, offset)

    def add(self, features: WindowEmbeddings, spans: Sequence[tuple[float, float]] = ()) -> list[str | None]:
        """Keep ``features``; each span's provisional speaker from ``OnlineSpeakers``,
        over the windows of ``features`` only (the span's own audio)."""
        self._windows = self._windows.concat(features)
        return [self._online.assign(features, start, end) for start, end in spans]

    def finish(self) -> Annotation:
        """``EmbeddingDiarizer.cluster`` over every window added; then the enrolled voices
        found among its speakers (``scribe.speakers.enrolled.apply_voices``)."""
        annotation = self._diarizer.cluster(self._windows, self._num_speakers)
        if self._voices:
            annotation, self._enrolled = apply_voices(self._windows, annotation, self._voices, self._num_speakers)
        return annotation

    @property
    def enrolled(self) -> dict[str, str]:
        """Speaker -> enrolled voice id: after ``finish``, of the final speakers; before,
        of the provisional ones (``scribe.speakers.enrolled.provisional_voices``)."""
        if self._enrolled is not None:
            return self._enrolled
        return provisional_voices(self._online.centroids, self._voices) if self._voices else {}


class EmbeddingDiarizer:
    """Resemblyzer (GE2E) embeddings of 1.6 s windows over speech, clustered by k-means.

    Parameters
    ----------
    params : DiarizationParams
        Windowing, speaker-count and online-assignment knobs (``ScribeOptions.diarization``).

    Raises
    ------
    ModelError
        The bundled encoder weights cannot be found (``scribe.models.speaker_encoder``).
    """

    def __init__(self, params: DiarizationParams = DiarizationParams()):
        import warnings

        import torch

        with warnings.catch_warnings():
            # resemblyzer -> webrtcvad imports pkg_resources, which warns on every run;
            # the warning is about that package, not something a user can act on.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            from resemblyzer import VoiceEncoder

        self.params = params
        path, self.model_info = speaker_encoder()
        self._torch = torch
        self._encoder = VoiceEncoder("cpu", verbose=False, weights_fpath=path)

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "EmbeddingDiarizer":
        return cls(options.diarization)

    def session(self, num_speakers: int | None = None, voices: Sequence = ()) -> EmbeddingSession:
        """A session for one visit (``scribe.speakers.Diarizer``)."""
        return EmbeddingSession(self, num_speakers, voices)

    def embed(self, audio: np.ndarray, speech: Timeline, offset: float = 0.0) -> WindowEmbeddings:
        """Unit-norm embeddings of windows over the speech regions (longer than 0.2 s) of
        ``audio`` ((n,) float32 at 16 kHz starting at ``offset`` s; not modified)."""
        from resemblyzer.audio import wav_to_mel_spectrogram

        regions = [r for r in speech if r.duration > 0.2]
        if not regions or audio.size == 0:
            return WindowEmbeddings.empty()
        p = self.params
        # The encoder reads raw mel energies, so loudness shifts embeddings: bring the
        # block to resemblyzer's -30 dBFS reference (it does the same in preprocess_wav).
        rms = float(np.sqrt(np.mean(audio**2))) or 1.0
        audio = audio * min(10 ** (-30 / 20) / rms, 100.0)
        win = int(round(p.window * _FRAMES_PER_SECOND))
        margin = p.window / 2
        frames, spans, region_ids, inside = [], [], [], []
        # Mel per speech region (plus half a window each side), not per block: memory
        # then follows the longest utterance, not the length of the recording.
        for ri, r in enumerate(regions):
            a = max(0.0, r.start - offset - margin)
            b = min(audio.size / SAMPLE_RATE, r.end - offset + margin)
            mel = wav_to_mel_spectrogram(audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)].astype(np.float32))
            if len(mel) < win:
                mel = np.pad(mel, ((0, win - len(mel)), (0, 0)))
            for c in _window_centres(r.start - offset, r.end - offset, p.step):
                f0 = int(round((c - a) * _FRAMES_PER_SECOND)) - win // 2
                f0 = min(max(f0, 0), len(mel) - win)
                frames.append(mel[f0 : f0 + win])
                lo = max(c - p.step / 2, r.start - offset)
                hi = min(c + p.step / 2, r.end - offset)
                spans.append((offset + lo, offset + hi))
                region_ids.append(ri)
                inside.append(c - margin >= r.start - offset and c + margin <= r.end - offset)
        frames = np.stack(frames)
        vectors = []
        with self._torch.inference_mode():
            for i in range(0, len(frames), _BATCH):
                batch = self._torch.from_numpy(frames[i : i + _BATCH])
                vectors.append(self._encoder(batch).numpy())
        v = np.concatenate(vectors)
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
        return WindowEmbeddings(np.array(spans), np.array(region_ids), v.astype(np.float32), np.array(inside, bool))

    def cluster(self, windows: WindowEmbeddings, num_speakers: int | None = None) -> Annotation:
        """Speaker turns from ``windows``: each window's speaker (``speaker_labels``),
        one-window flickers removed, speakers named in order of first appearance."""
        if len(windows) == 0:
            return Annotation()
        labels = self.speaker_labels(windows, num_speakers)
        labels = _median_filter(labels, windows.region, self.params.median_filter)
        return _turns(windows, labels)

    def speaker_labels(self, windows: WindowEmbeddings, num_speakers: int | None = None) -> np.ndarray:
        """(n,) int: each window's speaker, by k-means over every window with k
        ``num_speakers`` when given, else the number of voices ``count_speakers`` finds.

        Every window, not only the ones speakers were counted on, shapes the final
        clusters: measured on ami-debug dev00, k-means over all windows had speaker
        confusion 5.8% where giving each window the nearest counted voice had 17.5%."""
        n = len(windows)
        k = num_speakers if num_speakers is not None else len(count_speakers(windows, self.params))
        k = max(1, min(k, n))
        return _kmeans(windows.vectors, k) if k > 1 else np.zeros(n, dtype=int)


def count_speakers(windows: WindowEmbeddings, params: DiarizationParams) -> np.ndarray:
    """The distinct voices among ``windows``: (k, d) unit-norm centroids, k between
    ``params.min_speakers`` (at least 1) and ``params.max_speakers``.

    Counted on the windows wholly inside speech (``WindowEmbeddings.inside``; all of
    them when fewer than ``_MIN_WINDOWS_TO_COUNT``): a window reaching into the silence
    around a sentence embeds differently from the sentence's middle, enough for one voice
    to look like two. For each k, k-means over those windows gives k centroids; k is
    acceptable when no two centroids are as alike as ``params.max_centroid_similarity``
    (one voice split in two) and every centroid wins at least
    ``params.min_speaker_seconds`` of speech in runs of consecutive windows at least a
    window long (a voice, not the mixture of two voices at a turn change, nor a flicker).
    The largest acceptable k is the count.
    """
    p = params
    x = windows.vectors
    if len(x) == 0:
        return np.zeros((0, x.shape[1]), np.float32)
    clean = windows.clean
    if clean.sum() < _MIN_WINDOWS_TO_COUNT:
        clean = np.ones(len(x), bool)
    floor = max(1, p.min_speakers)
    best = _centroids(x[clean], np.zeros(int(clean.sum()), dtype=int))
    if clean.sum() < _MIN_WINDOWS_TO_COUNT:
        return best
    min_run = max(1, int(p.window / p.step))
    for k in range(2, min(p.max_speakers, int(clean.sum()) - 1) + 1):
        centroids = _centroids(x[clean], _kmeans(x[clean], k))
        if len(centroids) < k:
            continue
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -1.0)
        labels = np.argmax(x @ centroids.T, axis=1)
        seconds = _run_seconds(labels, windows.region, min_run, p.step, k)
        ok = similarity.max() < p.max_centroid_similarity and seconds.min() >= p.min_speaker_seconds
        logger.debug("k=%d: most similar centroids %.3f, least speech %.1f s%s",
                     k, similarity.max(), seconds.min(), "" if ok else " (rejected)")
        if ok or k <= floor:
            best = centroids
    return best


def _centroids(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, d) unit-norm mean of each label's rows, for the labels present."""
    c = np.stack([x[labels == i].mean(axis=0) for i in np.unique(labels)])
    return c / (np.linalg.norm(c, axis=1, keepdims=True) + 1e-9)


def _run_seconds(labels: np.ndarray, region: np.ndarray, min_run: int, step: float, k: int) -> np.ndarray:
    """(k,) seconds each label holds in runs of at least ``min_run`` consecutive windows
    of one speech region."""
    out = np.zeros(k)
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start] or region[i] != region[start]:
            if i - start >= min_run:
                out[labels[start]] += (i - start) * step
            start = i
    return out


def _turns(windows: WindowEmbeddings, labels: np.ndarray) -> Annotation:
    """Windows' labels as an Annotation; speakers named by order of first appearance
    (SPEAKER_00 speaks first)."""
    annotation = Annotation()
    order: dict[int, str] = {}
    for lab in labels:
        order.setdefault(int(lab), f"SPEAKER_{len(order):02d}")
    cur_start, cur_end, cur_label, cur_region = None, None, None, None
    for (s, e), lab, reg in zip(windows.spans, labels, windows.region):
        name = order[int(lab)]
        if name == cur_label and reg == cur_region and s <= cur_end + 1e-6:
            cur_end = max(cur_end, e)
            continue
        if cur_label is not None:
            annotation[Span(cur_start, cur_end)] = cur_label
        cur_start, cur_end, cur_label, cur_region = s, e, name, reg
    annotation[Span(cur_start, cur_end)] = cur_label
    return annotation.support()


def _kmeans(x: np.ndarray, k: int) -> np.ndarray:
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Fewer distinct windows than k: k-means says so and returns fewer clusters,
        # which the caller already handles.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)


def _window_centres(start: float, end: float, step: float) -> list[float]:
    duration = end - start
    if duration <= step:
        return [start + duration / 2]
    n = int(np.floor(duration / step))
    first = start + (duration - (n - 1) * step) / 2
    return [first + i * step for i in range(n)]


def _median_filter(labels: np.ndarray, region: np.ndarray, width: int) -> np.ndarray:
    """Majority vote over ``width`` neighbouring windows of the same speech region."""
    if width <= 1:
        return labels
    out = labels.copy()
    half = width // 2
    for i in range(len(labels)):
        lo, hi = max(0, i - half), min(len(labels), i + half + 1)
        neighbours = labels[lo:hi][region[lo:hi] == region[i]]
        values, counts = np.unique(neighbours, return_counts=True)
        if counts.max() > 1:
            out[i] = values[np.argmax(counts)]
    return out
