"""Signal conditioning (scribe/audio/condition.py), with it and without it: the same
speech at another DC offset, gain or channel layout; WER on the samples; DER on AMI and
the samples; and its cost in ms per minute of audio.

    python benchmarks/signal_conditioning.py [--variants-of cough_visit] [--skip-der]

"Without" is the pipeline with the conditioner, the level pass and the downmix replaced
by what main did before them (no filter, gain 1, FFmpeg's plain channel average).
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
from scribe.audio.condition import Conditioner, gain_for, measure_level
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
    """The pipeline as before conditioning: no filter, gain 1, plain channel mean."""
    saved = (pipeline_module.Conditioner, pipeline_module.measure_level, decode.downmix)
    pipeline_module.Conditioner = lambda gain=1.0: (lambda window: window)
    pipeline_module.measure_level = lambda blocks: 0.0
    decode.downmix = lambda ch, state=None: (ch.mean(axis=0).astype(np.float32), None)
    try:
        yield
    finally:
        pipeline_module.Conditioner, pipeline_module.measure_level, decode.downmix = saved


def conditioned(audio: np.ndarray) -> np.ndarray:
    out = audio.copy()
    gain = gain_for(measure_level([audio.copy()]))
    return Conditioner(gain)(out)


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
    print(f"conditioning (level pass + filter): {per_min:.1f} ms per minute of audio")

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
