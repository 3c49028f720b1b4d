"""Signal conditioning (scribe/audio/condition.py), with it and without it: the same
speech at another DC offset, gain or channel layout; WER on the samples; DER on AMI and
the samples; its cost in ms per minute of audio; and the level stage it does not have
("level_stage": DER on ami-debug with one gain per recording for VAD and/or the speaker
embeddings, the 87af20c design, at several targets and raise-only bands).

    python benchmarks/signal_conditioning.py [--variants-of cough_visit] [--skip-der]

"Without" is the pipeline with the conditioner and the downmix replaced by what main
did before them (no filter, FFmpeg's plain channel average).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

import scribe.audio.decode as decode
import scribe.pipeline as pipeline_module
from scribe.audio import VAD_BACKENDS
from scribe.audio.condition import Conditioner
from scribe.options import ScribeOptions
from scribe.pipeline import Pipeline
from scribe.scoring import der, load_rttm, load_uem, shared_data, wer
from scribe.speakers import DIARIZERS, diarize

REPO = Path(__file__).resolve().parent.parent


def variants(audio: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    """name -> ((n,) or (n, channels) samples, soundfile subtype)."""
    return {
        "clean": (audio, "PCM_16"),
        "dc+0.3": (audio + 0.3, "PCM_16"),
        "dc-0.3": (audio - 0.3, "PCM_16"),
        "gain x0.1": (audio * 0.1, "PCM_16"),
        "gain x3 (float)": (audio * 3, "FLOAT"),
        "gain x3 (16-bit, clipped)": (np.clip(audio * 3, -1, 1), "PCM_16"),
        "stereo, R = -L": (np.stack([audio, -audio], 1), "PCM_16"),
        "stereo, L only": (np.stack([audio, np.zeros_like(audio)], 1), "PCM_16"),
    }


@contextmanager
def unconditioned():
    """The pipeline as before conditioning: no filter, plain channel mean."""
    saved = (pipeline_module.Conditioner, decode.downmix)
    pipeline_module.Conditioner = lambda: (lambda window: window)
    decode.downmix = lambda ch, state=None: (ch.mean(axis=0).astype(np.float32), None)
    try:
        yield
    finally:
        pipeline_module.Conditioner, decode.downmix = saved


def conditioned(audio: np.ndarray) -> np.ndarray:
    return Conditioner()(audio.copy())


def level(audio: np.ndarray) -> float:
    """87af20c's recording level: the 99th percentile of the high-passed 32 ms frames'
    RMS, frames 80 dB under the loudest left out."""
    y = conditioned(audio)
    rms = np.sqrt(np.mean(y[: y.size // 512 * 512].reshape(-1, 512).astype(np.float64) ** 2, axis=1))
    rms = rms[rms > rms.max(initial=0.0) * 1e-4]
    return float(np.percentile(rms, 99.0)) if rms.size else 0.0


# Gain rules for the level stage: name -> gain(level). "to T": 87af20c's rule (at most
# 31.6x); "raise to T, <= M": raise-only, capped (a band: no gain above T).
LEVEL_RULES = {
    "DC only (gain 1)": lambda lv: 1.0,
    "to 0.16 (87af20c)": lambda lv: min(0.16 / lv, 31.6),
    "to 0.05": lambda lv: min(0.05 / lv, 31.6),
    **{f"raise to {t}, <= {m}": (lambda lv, t=t, m=m: float(np.clip(t / lv, 1.0, m)))
       for t in (0.03, 0.05, 0.08) for m in (1.5, 3.0)},
}


def level_stage(vad, diarizer, folder: Path, refs: dict, uems: dict) -> list[dict]:
    """DER (collar 0) per clip with each rule's gain given to VAD and the embeddings
    ("both"), VAD only or the embeddings only, after the DC high-pass."""
    rows = []
    for uri, ref in sorted(refs.items()):
        audio = decode.decode_audio(folder / f"{uri}.wav")
        hp, lv = conditioned(audio), level(audio)
        cache: dict = {}

        def run(g_vad: float, g_emb: float) -> float:
            key = (round(g_vad, 4), round(g_emb, 4))
            if key not in cache:
                session = diarizer.session(None)
                session.add(session.extract(hp * np.float32(g_emb), vad(hp * np.float32(g_vad))))
                cache[key] = round(der(ref, session.finish(), uems.get(uri), collar=0.0).der, 4)
            return cache[key]

        for rule, gain_of in LEVEL_RULES.items():
            g = gain_of(lv)
            row = {"uri": uri, "level": round(lv, 4), "rule": rule, "gain": round(g, 3),
                   "der_both": run(g, g), "der_vad_only": run(g, 1.0), "der_embeddings_only": run(1.0, g)}
            rows.append(row)
            print(f"level    {uri:8} {lv:.4f} {rule:22} gain {g:6.2f}  DER both {row['der_both']:.4f} "
                  f"vad {row['der_vad_only']:.4f} emb {row['der_embeddings_only']:.4f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants-of", default="cough_visit")
    ap.add_argument("--skip-der", action="store_true")
    args = ap.parse_args()
    pipe = Pipeline(ScribeOptions(language="en"))
    result: dict = {"variants_of": args.variants_of, "variants": [], "wer": [], "der": []}

    clean = decode.decode_audio(REPO / "samples" / f"{args.variants_of}.wav")
    t0 = time.perf_counter()
    for _ in range(5):
        conditioned(clean)
    per_min = (time.perf_counter() - t0) / 5 / (clean.size / 16000 / 60) * 1000
    result["ms_per_minute"] = round(per_min, 1)
    print(f"conditioning (high-pass): {per_min:.1f} ms per minute of audio")

    ref = json.loads((REPO / "samples" / f"{args.variants_of}.json").read_text())
    ref_text = " ".join(s["text"] for s in ref["segments"])
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("without", "with"):
            base = None
            for name, (samples, subtype) in variants(clean).items():
                path = Path(tmp) / f"{len(result['variants'])}.wav"
                sf.write(path, samples, 16000, subtype=subtype)
                if mode == "without":
                    with unconditioned():
                        r = pipe.process(path)
                else:
                    r = pipe.process(path)
                lines = [(s.speaker, s.text) for s in r.transcript.segments]
                if base is None:
                    base = r
                row = {
                    "mode": mode, "variant": name, "lines": len(lines),
                    "speakers": len(r.annotation.labels()),
                    "wer_vs_reference": round(wer(ref_text, r.transcript.text), 4),
                    "wer_vs_clean": round(wer(base.transcript.text, r.transcript.text), 4) if base.transcript.text else None,
                    "identical_to_clean": lines == [(s.speaker, s.text) for s in base.transcript.segments],
                }
                result["variants"].append(row)
                print(f"{mode:8} {name:26} lines {row['lines']:3} speakers {row['speakers']} "
                      f"WER vs ref {row['wer_vs_reference']:.3f} vs clean {row['wer_vs_clean']} "
                      f"identical {row['identical_to_clean']}", flush=True)

        for mode in ("without", "with"):
            for wav in sorted((REPO / "samples").glob("*.wav")):
                ref = json.loads(wav.with_suffix(".json").read_text())
                if mode == "without":
                    with unconditioned():
                        r = pipe.process(wav)
                else:
                    r = pipe.process(wav)
                w = wer(" ".join(s["text"] for s in ref["segments"]), r.transcript.text)
                result["wer"].append({"mode": mode, "uri": wav.stem, "wer": round(w, 4)})
                print(f"{mode:8} {wav.stem:22} WER {w:.4f}", flush=True)

    if not args.skip_der:
        options = ScribeOptions()
        vad = VAD_BACKENDS.create(options.vad_backend, options)
        diarizer = DIARIZERS.create(options.diarizer, options)
        ami = shared_data() / "ami-debug"
        sets = []
        if ami.exists():
            sets.append((ami, load_rttm(ami / "reference.rttm"), load_uem(ami / "reference.uem")))
        samples = {}
        for rttm in sorted((REPO / "samples").glob("*.rttm")):
            samples.update(load_rttm(rttm))
        sets.append((REPO / "samples", samples, {}))
        if ami.exists():
            result["level_stage"] = level_stage(vad, diarizer, *sets[0])
        for folder, refs, uems in sets:
            for uri, ref in sorted(refs.items()):
                audio = decode.decode_audio(folder / f"{uri}.wav")
                for mode, x in (("without", audio), ("with", conditioned(audio))):
                    hyp = diarize(diarizer, x, vad(x))
                    d0 = der(ref, hyp, uems.get(uri), collar=0.0).der
                    result["der"].append({"mode": mode, "uri": uri, "der_collar0": round(d0, 4),
                                          "hyp_speakers": len(hyp.labels()), "ref_speakers": len(ref.labels())})
                    print(f"{mode:8} {uri:22} DER {d0:.4f} speakers {len(hyp.labels())}/{len(ref.labels())}", flush=True)

    out = REPO / "benchmarks/results/signal_conditioning.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
