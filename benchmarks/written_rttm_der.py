"""DER of the RTTM that ``scribe transcribe`` writes, and word-to-speaker attribution,
on ami-debug (real meetings, scored on the reference UEM) and the sample visits.

Runs the real pipeline (``Pipeline.process``) once per configuration and file and
scores, side by side:

- ``segments``: an RTTM made from the transcript's segments (what ``transcribe`` wrote
  before issue 14, and what ``scribe draft`` still writes for a transcript file);
- ``written``: the RTTM ``write_rttm`` writes for the visit (the diarizer's turns);

each at collar 0 and at +/-0.25 s (pyannote.metrics ``collar=0.5``), with missed
speech, false alarm and confusion, and the part of the missed speech that lies in the
reference's overlap (``overlap_missed``); ``overlap_floor`` is the share of reference
speech a one-speaker-per-frame hypothesis cannot score (the extra speakers of overlap).

Word attribution: the fraction of recognised words (centre inside exactly one
reference turn) whose speaker, mapped to the reference by the optimal DER mapping, is
the reference speaker at the word's centre.

    python benchmarks/written_rttm_der.py [--configs main new] [--only dev00 knee_followup]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span

from diarization_der import corpora  # the same ami-debug and sample references (a sibling script)
from scribe.batch.outputs import write_rttm
from scribe.options import ScribeOptions, VadParams
from scribe.pipeline import Pipeline
from scribe.scoring import der, load_rttm
from scribe.speakers import alignment

REPO = Path(__file__).resolve().parent.parent
STEP = 0.01  # seconds per frame for the overlap figures
TOLERANCES = (0.0, 0.3, 0.6, 0.9)  # attribution's boundary tolerance, seconds

# "main": the settings before issue 14 (VAD as tuned before, turns not cropped to the
# unpadded speech, plain overlap attribution); "new": the defaults.
CONFIGS = {
    "main": dict(vad=VadParams(threshold=0.35, min_speech_ms=250, min_silence_ms=300, speech_pad_ms=200,
                                turn_onset_pad_ms=200, turn_offset_pad_ms=200), attribution="plain"),
    "new": dict(vad=VadParams(), attribution="default"),
}


def _counts(annotation: Annotation, start: float, end: float) -> np.ndarray:
    n = int(round((end - start) / STEP))
    counts = np.zeros(n, dtype=int)
    for seg, _, _ in annotation.itertracks(yield_label=True):
        a, b = int(round((seg.start - start) / STEP)), int(round((seg.end - start) / STEP))
        counts[max(a, 0) : max(min(b, n), 0)] += 1
    return counts


def overlap_figures(ref: Annotation, hyp: Annotation, uem: Timeline) -> dict[str, float]:
    """Shares of reference speech (in the UEM): ``overlap`` (time with 2+ reference
    speakers, counted once per speaker), ``overlap_floor`` (the extra speakers' time),
    ``overlap_missed`` (missed speech inside overlap)."""
    start, end = uem.extent().start, uem.extent().end
    r, h = _counts(ref.crop(uem), start, end), _counts(hyp.crop(uem), start, end)
    total = max(r.sum(), 1)
    over = r >= 2
    return {
        "overlap": round(float(r[over].sum() / total), 4),
        "overlap_floor": round(float((r[over] - 1).sum() / total), 4),
        "overlap_missed": round(float(np.maximum(r[over] - h[over], 0).sum() / total), 4),
    }


def attribution_accuracy(ref: Annotation, hyp: Annotation, transcript) -> tuple[int, int]:
    """(correct, counted) words."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    mapping = DiarizationErrorRate().optimal_mapping(ref, hyp) if hyp else {}
    correct = counted = 0
    for seg in transcript.segments:
        for w in seg.words:
            c = (w.start + w.end) / 2
            here = {label for s, _, label in ref.itertracks(yield_label=True) if s.start <= c < s.end}
            if len(here) != 1:
                continue
            counted += 1
            correct += mapping.get(seg.speaker) in here
    return correct, counted


def score(ref, hyp, uem) -> dict[str, float]:
    r0, r5 = der(ref, hyp, uem, collar=0.0), der(ref, hyp, uem, collar=0.5)
    return {"der_collar0": round(r0.der, 4), "der_collar025": round(r5.der, 4), "missed": round(r0.missed, 4),
            "false_alarm": round(r0.false_alarm, 4), "confusion": round(r0.confusion, 4),
            **overlap_figures(ref, hyp, uem)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--only", nargs="*", default=None, help="uris to run (default: all)")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/written_rttm_der.json"))
    args = ap.parse_args()
    base = Pipeline(ScribeOptions(language="en"))
    rows = []
    for config in args.configs:
        spec = CONFIGS[config]
        options = replace(base.options, vad=spec["vad"])
        pipeline = Pipeline(options, speech_model=base.speech_model, diarizer=base.diarizer,
                            role_labeller=base.role_labeller, drafter=base.drafter)
        raw: dict = {}
        finalize = pipeline.finalize

        def keep(segments, annotation, *a, **k):
            raw["segments"], raw["annotation"] = list(segments), annotation
            return finalize(segments, annotation, *a, **k)

        pipeline.finalize = keep  # the recognised segments, before attribution
        for corpus, folder, refs, uems in corpora():
            for uri, ref in sorted(refs.items()):
                if args.only and uri not in args.only:
                    continue
                result = pipeline.process(folder / f"{uri}.wav", uri=uri)
                uem = uems.get(uri)
                if uem is None:
                    uem = Timeline([Span(0.0, result.transcript.duration)])
                transcript = result.transcript
                if spec["attribution"] == "plain":
                    transcript = replace(transcript, segments=alignment.attribute_speakers(
                        raw["segments"], result.annotation, tolerance=0.0))
                with tempfile.TemporaryDirectory() as tmp:
                    seg_path = write_rttm(transcript, Path(tmp) / "s.rttm", uri=uri)
                    written_path = write_rttm(transcript, Path(tmp) / "w.rttm", uri=uri, annotation=result.annotation)
                    from_segments = load_rttm(seg_path).get(uri, Annotation(uri=uri))
                    written = load_rttm(written_path).get(uri, Annotation(uri=uri))
                good, counted = attribution_accuracy(ref, result.annotation, transcript)
                # The same words and turns attributed with other tolerances (0: the plain rule).
                by_tolerance = {}
                for tol in TOLERANCES:
                    segs = alignment.attribute_speakers(raw["segments"], result.annotation, tolerance=tol)
                    by_tolerance[str(tol)] = attribution_accuracy(
                        ref, result.annotation, replace(transcript, segments=segs))
                row = {"config": config, "corpus": corpus, "uri": uri, "ref_speakers": len(ref.labels()),
                       "hyp_speakers": len(written.labels()),
                       "segments": score(ref, from_segments, uem), "written": score(ref, written, uem),
                       "words": counted, "words_attributed_right": good,
                       "attribution_accuracy": round(good / max(counted, 1), 4),
                       "attribution_by_tolerance": by_tolerance}
                rows.append(row)
                w, s = row["written"], row["segments"]
                print(f"{config:5} {uri:15} spk {row['ref_speakers']}/{row['hyp_speakers']} "
                      f"written DER {w['der_collar0']:.3f} (miss {w['missed']:.3f} fa {w['false_alarm']:.3f} "
                      f"conf {w['confusion']:.3f} ovl-miss {w['overlap_missed']:.3f}) ±0.25 {w['der_collar025']:.3f} | "
                      f"segments DER {s['der_collar0']:.3f} | words {row['attribution_accuracy']:.3f}", flush=True)
    summary = {}
    for config in args.configs:
        for name, pick in (("ami_dev", lambda r: r["uri"].startswith("dev")),
                           ("ami_trn", lambda r: r["uri"].startswith("trn")),
                           ("samples", lambda r: r["corpus"] == "samples")):
            chosen = [r for r in rows if r["config"] == config and pick(r)]
            if not chosen:
                continue
            summary[f"{config}/{name}"] = {
                f"{kind}_{key}": round(float(np.mean([r[kind][key] for r in chosen])), 4)
                for kind in ("written", "segments") for key in chosen[0][kind]
            } | {"attribution_accuracy": round(sum(r["words_attributed_right"] for r in chosen)
                                               / max(sum(r["words"] for r in chosen), 1), 4)} | {
                f"attribution_tolerance_{tol}": round(
                    sum(r["attribution_by_tolerance"][str(tol)][0] for r in chosen)
                    / max(sum(r["attribution_by_tolerance"][str(tol)][1] for r in chosen), 1), 4)
                for tol in TOLERANCES}
    for k, v in summary.items():
        print(k, json.dumps(v))
    Path(args.out).write_text(json.dumps({
        "configs": {k: {"vad": CONFIGS[k]["vad"].__dict__, "attribution": CONFIGS[k]["attribution"]} for k in args.configs},
        "summary": summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
