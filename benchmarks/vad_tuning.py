"""VAD settings for who-spoke-when, tuned on ami-debug trn01-trn09 only (dev is never
read here): DER at collar 0 on the reference UEM of the diarizer's turns kept within
the unpadded speech (``speakers.turns.speech_turns``), over a grid of silero
threshold, minimum speech, minimum silence and the turns' padding before and after.

Two stages keep it cheap: the diarizer runs once per threshold (with that threshold's
padded regions, as the pipeline gives it), then each (min speech, min silence, onset
pad, offset pad) crops its turns. The chosen setting is then checked end to end by
benchmarks/written_rttm_der.py.

    python benchmarks/vad_tuning.py
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from scribe.audio.condition import Conditioner
from scribe.audio.decode import decode_audio
from scribe.audio.silero import SileroDetector
from scribe.options import ScribeOptions
from scribe.scoring import der, load_rttm, load_uem, shared_data
from scribe.speakers import DIARIZERS, diarize, speech_turns

REPO = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.45, 0.5)
MIN_SPEECH = (100, 250)
MIN_SILENCE = (100, 200, 300)
TURN_PAD = (0, 50, 100, 150, 200)  # ms, before and after each region (every pair)


def main() -> None:
    ami = shared_data() / "ami-debug"
    refs, uems = load_rttm(ami / "reference.rttm"), load_uem(ami / "reference.uem")
    uris = sorted(u for u in refs if u.startswith("trn"))
    options = ScribeOptions()
    diarizer = DIARIZERS.create("embedding", options)
    detector = SileroDetector(options.vad)
    audio = {}
    for uri in uris:
        a = decode_audio(ami / f"{uri}.wav")
        Conditioner()(a)
        audio[uri] = a
    results = []
    for threshold in THRESHOLDS:
        detector.params = replace(options.vad, threshold=threshold)
        hyps = {uri: diarize(diarizer, a, detector(a)) for uri, a in audio.items()}
        for min_speech, min_silence in itertools.product(MIN_SPEECH, MIN_SILENCE):
            detector.params = replace(options.vad, threshold=threshold, min_speech_ms=min_speech,
                                      min_silence_ms=min_silence)
            cores = {uri: detector.detect(a).unpadded for uri, a in audio.items()}
            for before, after in itertools.product(TURN_PAD, TURN_PAD):
                rows = [der(refs[u], speech_turns(hyps[u], cores[u], before / 1000, after / 1000), uems[u])
                        for u in uris]
                results.append({
                    "threshold": threshold, "min_speech_ms": min_speech, "min_silence_ms": min_silence,
                    "turn_onset_pad_ms": before, "turn_offset_pad_ms": after,
                    "der_collar0": round(float(np.mean([r.der for r in rows])), 4),
                    "missed": round(float(np.mean([r.missed for r in rows])), 4),
                    "false_alarm": round(float(np.mean([r.false_alarm for r in rows])), 4),
                    "confusion": round(float(np.mean([r.confusion for r in rows])), 4),
                })
        # Uncropped (the diarizer's turns as they were): the padded regions' DER.
        rows = [der(refs[u], hyps[u], uems[u]) for u in uris]
        results.append({"threshold": threshold, "uncropped": True,
                        "der_collar0": round(float(np.mean([r.der for r in rows])), 4),
                        "missed": round(float(np.mean([r.missed for r in rows])), 4),
                        "false_alarm": round(float(np.mean([r.false_alarm for r in rows])), 4),
                        "confusion": round(float(np.mean([r.confusion for r in rows])), 4)})
        best = min((r for r in results if r["threshold"] == threshold), key=lambda r: r["der_collar0"])
        print(f"threshold {threshold}: uncropped {results[-1]['der_collar0']:.4f}; best {best}", flush=True)
    best = sorted((r for r in results if not r.get("uncropped")), key=lambda r: r["der_collar0"])[:10]
    for r in best:
        print(r)
    out = REPO / "benchmarks/results/vad_tuning.json"
    out.write_text(json.dumps({"data": "ami-debug " + " ".join(uris), "best": best, "grid": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
