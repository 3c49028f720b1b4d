"""Scoring against references: DER (pyannote.metrics) and WER (jiwer), shared by the
tests and the benchmarks so both measure the same way."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

REPO = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    """The workplace's shared data (ami-debug, aci-bench), beside the repository."""
    return Path(os.environ.get("SCRIBE_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_rttm(path: str | os.PathLike) -> dict[str, Annotation]:
    annotations: dict[str, Annotation] = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if len(f) < 8 or f[0] != "SPEAKER":
            continue
        uri, start, dur, label = f[1], float(f[3]), float(f[4]), f[7]
        annotations.setdefault(uri, Annotation(uri=uri))[Span(start, start + dur)] = label
    return annotations


def load_uem(path: str | os.PathLike) -> dict[str, Timeline]:
    uems: dict[str, Timeline] = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if len(f) >= 4:
            uems.setdefault(f[0], Timeline(uri=f[0])).add(Span(float(f[2]), float(f[3])))
    return uems


@dataclass(frozen=True)
class DerResult:
    der: float
    missed: float
    false_alarm: float
    confusion: float
    collar: float  # total collar width in seconds, pyannote's convention (0.5 = +/-0.25 s)


def der(reference: Annotation, hypothesis: Annotation, uem: Timeline | None = None, collar: float = 0.0) -> DerResult:
    from pyannote.metrics.diarization import DiarizationErrorRate

    if uem is None:
        extent = reference.get_timeline().extent()
        if hypothesis:
            extent = extent | hypothesis.get_timeline().extent()
        uem = Timeline([extent])
    c = DiarizationErrorRate(collar=collar, skip_overlap=False)(reference, hypothesis, uem=uem, detailed=True)
    total = c["total"] or 1.0
    return DerResult(
        der=c["diarization error rate"],
        missed=c["missed detection"] / total,
        false_alarm=c["false alarm"] / total,
        confusion=c["confusion"] / total,
        collar=collar,
    )


def normalize_text(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return jiwer.wer(ref, hyp)
