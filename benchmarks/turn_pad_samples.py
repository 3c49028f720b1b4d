"""What the turn padding (``VadParams.turn_onset_pad_ms``, ``turn_offset_pad_ms``) costs on the sample visits, reported
beside its tuning on ami-debug trn (benchmarks/vad_tuning.py), never tuned here: DER at
collar 0 of the diarizer's turns cropped to the unpadded speech plus each (onset,
offset) pad. The
samples' references end where the synthesized voice does (trimmed at -40 dB), so every
millisecond of pad is false alarm there; AMI's reference turns reach further.

    python benchmarks/turn_pad_samples.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scribe.audio.condition import Conditioner
from scribe.audio.decode import decode_audio
from scribe.audio.silero import SileroDetector
from scribe.options import ScribeOptions
from scribe.scoring import der, load_rttm
from scribe.speakers import DIARIZERS, diarize, speech_turns

REPO = Path(__file__).resolve().parent.parent
# (onset, offset) ms; (200, 200) is the recogniser's padding (no crop); (150, 200) the default
PADS = ((0, 0), (50, 50), (100, 100), (150, 150), (200, 200), (100, 200), (150, 200))


def main() -> None:
    options = ScribeOptions()
    diarizer = DIARIZERS.create("embedding", options)
    detector = SileroDetector(options.vad)
    rows: dict[tuple[int, int], list] = {pad: [] for pad in PADS}
    for rttm in sorted((REPO / "samples").glob("*.rttm")):
        uri = rttm.stem
        audio = decode_audio(REPO / "samples" / f"{uri}.wav")
        Conditioner()(audio)
        found = detector.detect(audio)
        hyp = diarize(diarizer, audio, found.padded)
        ref = load_rttm(rttm)[uri]
        for pad in PADS:
            r = der(ref, speech_turns(hyp, found.unpadded, pad[0] / 1000, pad[1] / 1000))
            rows[pad].append((r.der, r.missed, r.false_alarm, r.confusion))
    out = []
    for pad in PADS:
        d, m, fa, c = np.mean(rows[pad], axis=0)
        out.append({"turn_onset_pad_ms": pad[0], "turn_offset_pad_ms": pad[1], "der_collar0": round(float(d), 4), "missed": round(float(m), 4),
                    "false_alarm": round(float(fa), 4), "confusion": round(float(c), 4)})
        print(out[-1])
    (REPO / "benchmarks/results/turn_pad_samples.json").write_text(
        json.dumps({"data": "samples/*.wav (mean of 3)", "rows": out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
