"""The pyannote diarizer: pyannote.audio's ``SpeakerDiarization`` pipeline (segmentation
model + speaker-embedding model + clustering) from a local folder. Registered as
``"pyannote"`` (``scribe.speakers.DIARIZERS``); needs the ``scribe[pyannote]`` extra and
weights the site already has (pyannote's are gated on the model hub: nothing here
downloads them).

The folder is a pyannote.audio 4 pipeline folder, as ``pyannote/speaker-diarization-
community-1`` ships::

    FOLDER/config.yaml                      pipeline: SpeakerDiarization, its params
    FOLDER/segmentation/pytorch_model.bin   e.g. segmentation-3.0 (PyanNet)
    FOLDER/embedding/pytorch_model.bin      e.g. WeSpeaker ResNet34
    FOLDER/plda/xvec_transform.npz, plda.npz

``config.yaml`` names the models as ``$model/<subfolder>`` or as paths (relative to the
folder or absolute). A name that is not a local path (a hub id such as
``pyannote/segmentation-3.0``, as 3.1's config has) is refused: edit it to the local
folder. Only ``SpeakerDiarization`` pipelines load (a ``pyannoteai`` pipeline would send
audio to a server). Models are loaded here from their files and handed to the pipeline
as objects, so pyannote's own loader never sees a name it could look up on the hub.
pyannote.audio 4 sends usage metrics (file durations, speaker counts) to its makers by
default; this module switches them off (``PYANNOTE_METRICS_ENABLED=false``, whatever the
environment says) before pyannote.audio is imported, and again through its API after.

How a visit is read: pyannote's pipeline wants a whole recording, scribe gives blocks
(``ScribeOptions.block_seconds``, 600 s, so a visit of up to 10 minutes is one block).
``extract`` runs the whole pipeline on one block and keeps only its outputs
(``BlockTurns``: turns, one embedding per speaker), never the audio (the pipeline's own
chunk batches are freed when it returns, not zeroed, like the embedding diarizer's mel
frames). ``finish`` links the blocks' speakers by clustering those embeddings as the
pipeline clusters within a file: centroid linkage of unit-norm embeddings, cut at the
pipeline's own clustering threshold or into ``num_speakers`` clusters. The VAD's
timeline only skips blocks without speech: within a block pyannote's segmentation model
decides where speech is, and its turns may overlap (two speakers at once). Enrolled
voices (``voices``) are not used by this backend yet.

torchaudio: pyannote.audio imports it, and PyPI's torchaudio wheels are CUDA builds
whose C++ extension cannot load next to a CPU torch. pyannote.audio uses only
torchaudio's pure-PyTorch parts (Kaldi fbank, MFCC, resampling), so when the extension
fails to load (``OSError``) this module imports torchaudio without it (``_import_torchaudio``)
and logs that once. A CPU torchaudio from PyTorch's CPU package index loads as is.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

from privacy import SAMPLE_RATE
from scribe.errors import ModelError
from scribe.options import ScribeOptions
from scribe.types import ModelInfo

logger = logging.getLogger("scribe.speakers.pyannote")

EXTRA = "pip install 'scribe[pyannote]'"
_PIPELINES = ("pyannote.audio.pipelines.SpeakerDiarization", "pyannote.audio.pipelines.speaker_diarization.SpeakerDiarization")
_MODEL_PARAMS = ("segmentation", "embedding", "plda")
# Cross-block speaker linking when the pipeline's clustering has no threshold of its
# own: pyannote/speaker-diarization-3.1's agglomerative threshold (euclidean distance
# between unit-norm embeddings, centroid linkage), the value pyannote tuned for linking
# embeddings within one file. Not re-tuned here: no trained weights on this machine.
_DEFAULT_LINK_THRESHOLD = 0.7045654963945799


@dataclass(frozen=True)
class BlockTurns:
    """One block's pipeline output (this backend's features).

    Attributes
    ----------
    turns : tuple of (float, float, int)
        (start, end, local speaker index), seconds from the start of the visit; turns of
        different speakers may overlap.
    embeddings : np.ndarray
        (k, d) float32, one per local speaker (row i: speaker i); rows of a speaker the
        pipeline could not embed are NaN.
    """

    turns: tuple[tuple[float, float, int], ...]
    embeddings: np.ndarray

    @classmethod
    def empty(cls) -> "BlockTurns":
        return cls((), np.zeros((0, 0), np.float32))


def _import_torchaudio():
    """Import torchaudio; if its C++ extension cannot load (a CUDA build next to CPU
    torch: ``OSError``), import it without the extension, which pyannote.audio does not
    use. Installed files are not touched: a stand-in ``torchaudio._extension`` module
    saying "no extension" is registered before torchaudio's ``__init__`` imports it."""
    try:
        import torchaudio
    except OSError as e:
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]
        stand_in = types.ModuleType("torchaudio._extension")
        stand_in._IS_TORCHAUDIO_EXT_AVAILABLE = False
        stand_in._IS_ALIGN_AVAILABLE = False
        stand_in._load_lib = lambda lib: False

        def fail_if_no_align(func):
            def fail(*args, **kwargs):
                raise RuntimeError("torchaudio's forced alignment needs its C++ extension, which is not loaded")

            return fail

        stand_in.fail_if_no_align = fail_if_no_align
        sys.modules["torchaudio._extension"] = stand_in
        import torchaudio

        logger.info("torchaudio %s loaded without its C++ extension (%s); pyannote.audio does not use it",
                       torchaudio.__version__, type(e).__name__)
    return torchaudio


def _import_pyannote():
    """pyannote.audio, metrics off; ``ModelError`` naming the extra when it is missing."""
    # Before the import: pyannote.audio reads it at import and at every pipeline call.
    os.environ["PYANNOTE_METRICS_ENABLED"] = "false"
    try:
        _import_torchaudio()
        with warnings.catch_warnings():
            # pyannote.audio warns at import when torchcodec cannot decode files; scribe
            # hands it decoded audio in memory, never a file.
            warnings.filterwarnings("ignore", message="\ntorchcodec is not installed correctly")
            import pyannote.audio
        from pyannote.audio.telemetry import set_telemetry_metrics
    except ImportError as e:
        raise ModelError(f"--diarizer pyannote needs pyannote.audio ({e.name or 'missing'} is not installed): {EXTRA}") from None
    except OSError as e:
        raise ModelError(f"--diarizer pyannote: pyannote.audio cannot be imported ({_first_line(e)})") from None
    set_telemetry_metrics(False)
    return pyannote.audio


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def _local_path(folder: Path, key: str, value) -> Path:
    """The file or folder ``value`` ("$model/<sub>", relative to ``folder`` or absolute)
    names; ``ModelError`` when it is not a local path that exists."""
    config = folder / "config.yaml"
    if not isinstance(value, str):
        raise ModelError(f"{config}: {key} must be a path ($model/<subfolder> or a folder), not {type(value).__name__}")
    path = folder / value[len("$model/"):] if value.startswith("$model/") else Path(value).expanduser()
    if not path.is_absolute():
        path = folder / path
    if not path.exists():
        raise ModelError(f"{config}: {key} {value!r} is not a local path ({path} does not exist; nothing is downloaded)")
    return path


def load_pipeline(folder: str | os.PathLike | None):
    """pyannote's ``SpeakerDiarization`` pipeline from ``folder`` (see the module
    docstring), on the CPU. Raises ``ModelError`` (one line) when the folder, its
    config.yaml or a model cannot be read, or pyannote.audio is not installed."""
    if folder is None:
        raise ModelError("--diarizer pyannote needs its model folder: --diarizer-model PATH or [diarization] model in the config")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder}: pyannote model folder not found")
    config_path = folder / "config.yaml"
    if not config_path.is_file():
        raise ModelError(f"{folder}: not a pyannote pipeline folder (no config.yaml)")
    import yaml

    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ModelError(f"{config_path}: cannot be read ({_first_line(e)})") from None
    pipeline_config = config.get("pipeline") if isinstance(config, dict) else None
    if not isinstance(pipeline_config, dict) or pipeline_config.get("name") not in _PIPELINES:
        name = pipeline_config.get("name") if isinstance(pipeline_config, dict) else None
        raise ModelError(f"{config_path}: pipeline {name!r} is not pyannote.audio's SpeakerDiarization")
    params = dict(pipeline_config.get("params") or {})
    paths = {key: _local_path(folder, key, params.get(key)) for key in _MODEL_PARAMS}

    pyannote_audio = _import_pyannote()
    import torch
    from pyannote.audio import Model, Pipeline
    from pyannote.audio.core.plda import PLDA

    try:
        params["segmentation"] = Model.from_pretrained(paths["segmentation"], map_location="cpu")
        params["embedding"] = Model.from_pretrained(paths["embedding"], map_location="cpu")
        params["plda"] = PLDA.from_pretrained(paths["plda"])
        # A local folder's config carries no token or cache: nothing is fetched.
        params.update(token=None, cache_dir=None)
        loaded = {**config, "pipeline": {**pipeline_config, "params": params}}
        loaded.pop("device", None)
        pipeline = Pipeline.from_pretrained(loaded)
        pipeline.to(torch.device("cpu"))
    except ModelError:
        raise
    except Exception as e:  # a bad checkpoint fails in many ways (pickle, shapes, keys)
        raise ModelError(f"{folder}: pyannote pipeline cannot be loaded ({_first_line(e)})") from None
    if pipeline is None:
        raise ModelError(f"{folder}: pyannote pipeline cannot be loaded")
    return pipeline, ModelInfo("speaker-embedding", f"pyannote-{folder.name}", pyannote_audio.__version__, str(folder))


class PyannoteSession:
    """One visit's blocks (``scribe.speakers.DiarizationSession`` over ``BlockTurns``)."""

    def __init__(self, diarizer: "PyannoteDiarizer", num_speakers: int | None = None):
        self._diarizer = diarizer
        self._num_speakers = num_speakers
        self._blocks: list[BlockTurns] = []
        self._live: list[np.ndarray] = []  # provisional speakers' embeddings (live lines)
        self._live_of: list[list[int]] = []  # per block: local speaker -> provisional index
        # The Diarizer protocol's speaker label -> enrolled voice: always empty here
        # (this backend does not use enrolled voices yet).
        self.enrolled: dict[str, str] = {}

    def extract(self, audio: np.ndarray, speech: Timeline, offset: float = 0.0) -> BlockTurns:
        """``PyannoteDiarizer.turns``: thread-safe with respect to the session."""
        return self._diarizer.turns(audio, speech, offset, self._num_speakers)

    def add(self, features: BlockTurns, spans: Sequence[tuple[float, float]] = ()) -> list[str | None]:
        """Keep ``features``; each span's provisional speaker: the block's speaker with
        the most time in it, linked to the closest speaker of earlier blocks when their
        unit-norm embeddings are within the linking threshold (euclidean)."""
        self._blocks.append(features)
        threshold = self._diarizer.link_threshold
        mapping = []
        for vector in features.embeddings:
            v = _unit(vector)
            dists = [float(np.linalg.norm(c - v)) for c in self._live] if np.isfinite(v).all() else []
            best = int(np.argmin(dists)) if dists else -1
            if best >= 0 and dists[best] <= threshold:
                mapping.append(best)
            else:
                self._live.append(v if np.isfinite(v).all() else np.zeros_like(v))
                mapping.append(len(self._live) - 1)
        self._live_of.append(mapping)
        labels: list[str | None] = []
        for start, end in spans:
            overlap: dict[int, float] = {}
            for s, e, k in features.turns:
                if s < end and e > start:
                    overlap[k] = overlap.get(k, 0.0) + min(e, end) - max(s, start)
            labels.append(f"SPEAKER_{mapping[max(overlap, key=overlap.get)]:02d}" if overlap else None)
        return labels

    def finish(self) -> Annotation:
        """Every block's turns, speakers linked across blocks, named ``SPEAKER_00``,
        ``SPEAKER_01``, ... in order of first appearance."""
        blocks = [b for b in self._blocks if b.turns]
        global_of = self._diarizer.link([b.embeddings for b in blocks], self._num_speakers)
        turns = sorted((s, e, global_of[i][k]) for i, b in enumerate(blocks) for s, e, k in b.turns)
        order: dict[int, str] = {}
        annotation = Annotation()
        for s, e, g in turns:
            label = order.setdefault(g, f"SPEAKER_{len(order):02d}")
            annotation[Span(s, e), len(annotation)] = label
        return annotation.support()


class PyannoteDiarizer:
    """pyannote.audio's speaker-diarization pipeline from a local folder.

    Parameters
    ----------
    folder : str or os.PathLike
        The pipeline folder (``ScribeOptions.diarizer_model``, ``--diarizer-model``).

    Raises
    ------
    ModelError
        No folder given, the folder or a model in it cannot be read, or pyannote.audio
        is not installed (the message names the extra).
    """

    # Its segmentation model decides where speech is (and where two speakers overlap), so
    # the pipeline does not crop its turns to the VAD's speech (``Pipeline.finalize``).
    finds_speech = True

    def __init__(self, folder: str | os.PathLike | None):
        import torch

        self._torch = torch
        self._pipeline, self.model_info = load_pipeline(folder)
        # One block at a time: the pipeline keeps state (its models, batch buffers).
        self._lock = threading.Lock()
        threshold = getattr(getattr(self._pipeline, "clustering", None), "threshold", None)
        self.link_threshold = float(threshold) if isinstance(threshold, (int, float)) else _DEFAULT_LINK_THRESHOLD
        self._voices_logged = False  # the enrolled voices' ids are logged once, not per visit

    @classmethod
    def from_options(cls, options: ScribeOptions) -> "PyannoteDiarizer":
        return cls(options.diarizer_model)

    def session(self, num_speakers: int | None = None, voices=()) -> PyannoteSession:
        """A session for one visit (``scribe.speakers.Diarizer``). ``voices`` (enrolled
        voiceprints) are not used by this backend yet: their ids are logged once (INFO)
        per diarizer, and the session's ``enrolled`` stays empty. (An explicit
        ``--clinician`` with this backend is refused by the CLI.)"""
        if voices and not getattr(self, "_voices_logged", False):
            self._voices_logged = True
            ids = ", ".join(str(getattr(v, "id", None) or v[0]) for v in voices)
            logger.info("pyannote diarizer: enrolled voices are not used by this backend (%s)", ids)
        return PyannoteSession(self, num_speakers)

    def turns(self, audio: np.ndarray, speech: Timeline, offset: float = 0.0,
              num_speakers: int | None = None) -> BlockTurns:
        """The pipeline's turns and speaker embeddings for ``audio`` ((n,) float32 at
        16 kHz starting at ``offset`` s; read, not modified, not kept). A block without
        speech in ``speech`` is not run."""
        if audio.size == 0 or not any(True for _ in speech):
            return BlockTurns.empty()
        # A view of the block, not a copy (torch.from_numpy shares its memory).
        waveform = self._torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        with self._lock, self._torch.inference_mode(), warnings.catch_warnings():
            # pyannote warns (UserWarning, numpy RuntimeWarning) when a block has fewer
            # speakers than num_speakers or a speaker too little clean speech to embed:
            # notes about the model's output, handled below (NaN embeddings), not
            # something a user can act on.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            output = self._pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, num_speakers=num_speakers)
        annotation = getattr(output, "speaker_diarization", output)
        labels = list(annotation.labels())
        index = {label: i for i, label in enumerate(labels)}
        turns = tuple((offset + seg.start, offset + seg.end, index[label])
                      for seg, _, label in annotation.itertracks(yield_label=True))
        embeddings = getattr(output, "speaker_embeddings", None)
        if embeddings is None or len(embeddings) != len(labels):
            embeddings = np.full((len(labels), 1), np.nan, np.float32)
        logger.debug("pyannote block at %.1f s: %.1f s audio, %d speakers, %d turns",
                     offset, audio.size / SAMPLE_RATE, len(labels), len(turns))
        return BlockTurns(turns, np.asarray(embeddings, dtype=np.float32))

    def link(self, embeddings: Sequence[np.ndarray], num_speakers: int | None = None) -> list[list[int]]:
        """Global speaker index of every block's local speakers: one block keeps its
        own; several are linked by centroid-linkage clustering of their unit-norm
        embeddings, cut at ``link_threshold`` (euclidean) or into ``num_speakers``
        clusters. A speaker the pipeline could not embed (NaN) joins, with
        ``num_speakers``, the first of those clusters its block does not use yet, else
        stays a speaker of its own."""
        if len(embeddings) <= 1:
            return [list(range(len(e))) for e in embeddings]
        from scipy.cluster.hierarchy import fcluster, linkage

        owners = [(i, k) for i, e in enumerate(embeddings) for k in range(len(e))]
        vectors = [_unit(embeddings[i][k]) for i, k in owners]
        known = [j for j, v in enumerate(vectors) if np.isfinite(v).all()]
        cluster = {}
        if len(known) > 1:
            x = np.stack([vectors[j] for j in known])
            tree = linkage(x, method="centroid", metric="euclidean")
            if num_speakers is not None:
                ids = fcluster(tree, num_speakers, criterion="maxclust")
            else:
                ids = fcluster(tree, self.link_threshold, criterion="distance")
            cluster = {j: int(c) for j, c in zip(known, ids)}
        elif known:
            cluster = {known[0]: 1}
        next_id = max(cluster.values(), default=0) + 1
        for j, (i, k) in enumerate(owners):
            if j in cluster:
                continue
            taken = {cluster[m] for m, (b, _) in enumerate(owners) if b == i and m in cluster}
            free = [c for c in range(1, (num_speakers or 0) + 1) if c not in taken]
            if free:
                cluster[j] = free[0]
            else:
                cluster[j] = next_id
                next_id += 1
        out = [[0] * len(e) for e in embeddings]
        for j, (i, k) in enumerate(owners):
            out[i][k] = cluster[j]
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / (np.linalg.norm(v) + 1e-9)
