"""A pyannote.audio pipeline folder with randomly initialised models, built at test time.

pyannote's trained weights (segmentation-3.0, WeSpeaker ResNet34, community-1's PLDA) are
gated on the model hub and cannot be downloaded here, so tests and benchmarks/
pyannote_speed.py build the same architectures with random weights and save them in the
layout ``scribe.speakers.pyannote_diarizer`` loads (community-1's): config.yaml,
segmentation/pytorch_model.bin, embedding/pytorch_model.bin, plda/*.npz. Random models
say nothing about accuracy; they run the real loading and inference code, and cost what
the trained ones cost (same architectures, same sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

EMBEDDING_DIM = 256  # WeSpeaker ResNet34's and XVectorSincNet's (512 for xvector: set below)
LDA_DIM = 128  # community-1's PLDA dimension (pyannote.audio.core.plda.PLDA default)


def build_pipeline_folder(folder: Path, embedding: str = "xvector", segmentation_step: float = 0.1,
                          seed: int = 0) -> Path:
    """Write a random-weight SpeakerDiarization pipeline into ``folder``.

    Parameters
    ----------
    embedding : {"xvector", "resnet34"}
        XVectorSincNet (small: tests) or WeSpeakerResNet34 (community-1's architecture:
        the benchmark).
    segmentation_step : float
        Step between 10 s segmentation chunks, as a fraction of 10 s (pyannote's default
        0.1; tests use 0.5 to run five times fewer chunks).
    """
    # scribe's import first: it loads torchaudio without its C++ extension where needed.
    from scribe.speakers.pyannote_diarizer import _import_pyannote

    pyannote_audio = _import_pyannote()
    import lightning
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34, XVectorSincNet
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    for sub in ("segmentation", "embedding", "plda"):
        (folder / sub).mkdir(parents=True, exist_ok=True)

    # segmentation-3.0's task: 10 s chunks, 3 speakers, powerset of at most 2 at once.
    seg = PyanNet(sample_rate=16000, num_channels=1)
    seg.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0, min_duration=10.0,
        warm_up=(0.0, 0.0), classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
        permutation_invariant=True,
    )
    seg.build()
    _save(seg, folder / "segmentation" / "pytorch_model.bin", lightning.__version__)

    emb = (WeSpeakerResNet34 if embedding == "resnet34" else XVectorSincNet)(sample_rate=16000, num_channels=1)
    emb.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0,
                                        min_duration=0.5)
    _save(emb, folder / "embedding" / "pytorch_model.bin", lightning.__version__)
    with torch.inference_mode():
        dim = int(emb(torch.zeros(1, 1, 16000)).shape[-1])

    # A valid PLDA (what VBx clustering reads): positive between-class variances psi,
    # a well-conditioned transform tr.
    np.savez(folder / "plda" / "xvec_transform.npz", mean1=rng.normal(size=dim), mean2=rng.normal(size=LDA_DIM),
             lda=rng.normal(size=(dim, LDA_DIM)))
    np.savez(folder / "plda" / "plda.npz", mu=rng.normal(size=LDA_DIM),
             tr=np.eye(LDA_DIM) + 0.01 * rng.normal(size=(LDA_DIM, LDA_DIM)), psi=rng.uniform(0.5, 2.0, size=LDA_DIM))

    # community-1's config.yaml, with its hyperparameters.
    (folder / "config.yaml").write_text(f"""dependencies:
  pyannote.audio: {pyannote_audio.__version__}
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    plda: $model/plda
    segmentation: $model/segmentation
    segmentation_batch_size: 32
    segmentation_step: {segmentation_step}
params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
""", encoding="utf-8")
    return folder


def _save(model, path: Path, lightning_version: str) -> None:
    """A Lightning checkpoint as ``Model.from_pretrained`` reads it (what a trainer's
    ``save_checkpoint`` writes, minus optimizer state)."""
    import torch

    model.eval()
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": lightning_version}
    model.on_save_checkpoint(checkpoint)  # pyannote.audio's versions, architecture, specifications
    torch.save(checkpoint, path)
