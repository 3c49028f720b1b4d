"""Speaker count and DER of the embedding diarizer, before and after the counting change,
in one run over the same window embeddings.

    python benchmarks/speaker_count.py

Data: the synthetic 1-, 2- and 3-voice visits of ``tests/voice_visits.py`` (made at run
time; tuning and held-out voices apart), ami-debug (trn01-trn09 tune, dev00/dev01 report;
scored on the reference UEM) and the samples. "before" is the previous rule (k-means for
k in 2..max, k the smallest whose silhouette is within 0.08 of the best, one speaker when
the two k=2 centroids have cosine similarity >= 0.93), kept here only to compare;
"after" is ``scribe.speakers.embedding.count_speakers``. DER at collar 0 after the
median filter, as ``benchmarks/diarization_der.py``.

A reference speaker is counted when they speak at all in the scored region
(``ref_speakers``); ``ref_speakers_2s`` counts only those with at least 2 s of speech
(at least one), since several ami-debug speakers say a word or two (0.4-1.8 s).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from pyannote.core import Annotation

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scribe.audio import VAD_BACKENDS  # noqa: E402
from scribe.audio.decode import decode_audio  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.scoring import der, load_rttm, load_uem, shared_data  # noqa: E402
from scribe.speakers import DIARIZERS  # noqa: E402
from scribe.speakers.embedding import _kmeans, _median_filter, _turns  # noqa: E402
from tests import voice_visits  # noqa: E402

OUT = REPO / "benchmarks/results/speaker_count.json"


def before_labels(x: np.ndarray, max_speakers: int = 4, k_tolerance: float = 0.08,
                  single_speaker_similarity: float = 0.93) -> np.ndarray:
    """The rule replaced (embedding.py before issue 14), for comparison only."""
    from sklearn.metrics import silhouette_score

    n = len(x)
    if n < 8:
        return np.zeros(n, dtype=int)
    scores = {}
    for k in range(2, min(max_speakers, n - 1) + 1):
        labels = _kmeans(x, k)
        if len(set(labels)) < 2:
            continue
        scores[k] = (float(silhouette_score(x, labels, metric="cosine", sample_size=min(n, 2000),
                                            random_state=0)), labels)
    if not scores:
        return np.zeros(n, dtype=int)
    if 2 in scores:
        a, b = (x[scores[2][1] == i].mean(axis=0) for i in (0, 1))
        if float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9)) >= single_speaker_similarity:
            return np.zeros(n, dtype=int)
    best = max(s for s, _ in scores.values())
    return scores[min(k for k, (s, _) in scores.items() if s >= best - k_tolerance)][1]


def clips() -> list[tuple[str, str, Path, object, object]]:
    """(set, uri, wav, reference Annotation, UEM or None) for every clip."""
    out = []
    ami = shared_data() / "ami-debug"
    if ami.exists():
        refs, uems = load_rttm(ami / "reference.rttm"), load_uem(ami / "reference.uem")
        for uri in sorted(refs):
            out.append(("ami-" + uri[:3], uri, ami / f"{uri}.wav", refs[uri], uems.get(uri)))
    for rttm in sorted((REPO / "samples").glob("*.rttm")):
        for uri, ref in load_rttm(rttm).items():
            out.append(("samples", uri, REPO / "samples" / f"{uri}.wav", ref, None))
    t0 = time.perf_counter()
    for name, visits in (("synthetic-tuning", voice_visits.TUNING), ("synthetic-held-out", voice_visits.HELD_OUT)):
        for v in visits:
            wav, rttm = voice_visits.make(v)
            (uri, ref), = load_rttm(rttm).items()
            out.append((f"{name}-{v.speakers}", uri, wav, ref, None))
    print(f"synthetic visits made or found in {time.perf_counter() - t0:.1f} s")
    return out


def main() -> None:
    missing = voice_visits.missing_tools()
    if missing:
        sys.exit(f"speaker_count: {', '.join(missing)} not installed (make system-deps installs it)")
    options = ScribeOptions()
    vad = VAD_BACKENDS.create(options.vad_backend, options)
    diarizer = DIARIZERS.create(options.diarizer, options)
    p = diarizer.params
    rows = []
    for group, uri, wav, ref, uem in clips():
        audio = decode_audio(wav)
        windows = diarizer.embed(audio, vad(audio))
        scored = ref.crop(uem) if uem is not None else ref
        seconds = [scored.label_duration(label) for label in scored.labels()]
        row = {"set": group, "uri": uri, "ref_speakers": len(seconds),
               "ref_speakers_2s": max(1, sum(s >= 2.0 for s in seconds))}
        for when, labels in (("before", before_labels(windows.vectors, p.max_speakers)),
                             ("after", diarizer.speaker_labels(windows))):
            hyp = _turns(windows, _median_filter(labels, windows.region, p.median_filter)) if len(windows) \
                else Annotation()
            result = der(ref, hyp, uem, collar=0.0)
            row[f"{when}_speakers"] = len(hyp.labels())
            row[f"{when}_der_collar0"] = round(result.der, 4)
            row[f"{when}_confusion"] = round(result.confusion, 4)
        rows.append(row)
        print(f"{group:22} {uri:44} ref {row['ref_speakers']} (>=2 s: {row['ref_speakers_2s']})  "
              f"before {row['before_speakers']} DER {row['before_der_collar0']}  "
              f"after {row['after_speakers']} DER {row['after_der_collar0']}", flush=True)
    summary = {}
    for group in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == group]
        s = {"clips": len(mine)}
        for when in ("before", "after"):
            s[f"{when}_count_right"] = sum(r[f"{when}_speakers"] == r["ref_speakers"] for r in mine)
            s[f"{when}_count_right_2s"] = sum(r[f"{when}_speakers"] == r["ref_speakers_2s"] for r in mine)
            s[f"{when}_mean_der_collar0"] = round(float(np.mean([r[f"{when}_der_collar0"] for r in mine])), 4)
        summary[group] = s
        print(f"{group:22} count right: before {s['before_count_right']}/{len(mine)}, "
              f"after {s['after_count_right']}/{len(mine)} (>=2 s speakers: {s['before_count_right_2s']} -> "
              f"{s['after_count_right_2s']}); mean DER {s['before_mean_der_collar0']} -> {s['after_mean_der_collar0']}")
    OUT.write_text(json.dumps({"params": options.to_dict()["diarization"], "vad": options.to_dict()["vad"],
                               "summary": summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
