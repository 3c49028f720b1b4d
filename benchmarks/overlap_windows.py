"""Can the embedding diarizer's windows tell overlapped speech? Measured on ami-debug
trn01-trn09 (real overlap: the reference RTTM's regions with two or more speakers).

For each 1.6 s window: cosine similarity to its own speaker's centroid ("own") and to
the closest other speaker's ("other"); how well each separates windows whose centre is
in reference overlap (ROC AUC; "own" scored as lower = overlap), and the precision and
recall of flagging ``other - own >= threshold``. Writes
benchmarks/results/overlap_windows.json.

    python benchmarks/overlap_windows.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from scribe.audio.condition import Conditioner
from scribe.audio.decode import decode_audio
from scribe.audio.silero import SileroDetector
from scribe.options import ScribeOptions
from scribe.scoring import load_rttm, shared_data
from scribe.speakers import DIARIZERS

REPO = Path(__file__).resolve().parent.parent


def _label_at(annotation, t: float) -> str | None:
    return next((lab for seg, _, lab in annotation.itertracks(yield_label=True) if seg.start <= t < seg.end), None)


def main() -> None:
    ami = shared_data() / "ami-debug"
    refs = load_rttm(ami / "reference.rttm")
    options = ScribeOptions()
    diarizer = DIARIZERS.create("embedding", options)
    vad = SileroDetector(options.vad)
    features, overlapped = [], []
    for uri in sorted(u for u in refs if u.startswith("trn")):
        audio = decode_audio(ami / f"{uri}.wav")
        Conditioner()(audio)
        windows = diarizer.embed(audio, vad(audio))
        hyp = diarizer.cluster(windows)
        labels = [_label_at(hyp, (s + e) / 2) for s, e in windows.spans]
        names = sorted({lab for lab in labels if lab})
        if len(names) < 2:
            continue
        centroids = {}
        for name in names:
            v = windows.vectors[[i for i, lab in enumerate(labels) if lab == name]].mean(axis=0)
            centroids[name] = v / np.linalg.norm(v)
        ref = refs[uri]
        for i, ((s, e), lab) in enumerate(zip(windows.spans, labels)):
            c = (s + e) / 2
            n_ref = sum(1 for seg, _, _ in ref.itertracks(yield_label=True) if seg.start <= c < seg.end)
            if lab is None or n_ref == 0:
                continue
            own = float(windows.vectors[i] @ centroids[lab])
            other = max(float(windows.vectors[i] @ centroids[n]) for n in names if n != lab)
            features.append((own, other, other - own))
            overlapped.append(n_ref >= 2)
    x, y = np.array(features), np.array(overlapped)
    out = {"data": "ami-debug trn01-trn09", "windows": int(len(y)), "overlap_share": round(float(y.mean()), 4)}
    for j, name in enumerate(("own", "other", "other_minus_own")):
        out[f"auc_{name}"] = round(float(roc_auc_score(y, -x[:, j] if j == 0 else x[:, j])), 4)
    out["flagging"] = []
    for threshold in (-0.3, -0.2, -0.15, -0.1, -0.05):
        flagged = x[:, 2] >= threshold
        tp = (flagged & y).sum()
        out["flagging"].append({"other_minus_own_at_least": threshold,
                                "precision": round(float(tp / max(flagged.sum(), 1)), 4),
                                "recall": round(float(tp / y.sum()), 4), "flagged": round(float(flagged.mean()), 4)})
    print(json.dumps(out, indent=2))
    (REPO / "benchmarks/results/overlap_windows.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
