"""Word error rate on long turns with no pause: cut with overlap, or decoded long-form.

Nine long turns made of samples/aci_d2n_visit's clinician turns (tests/test_long_turn.py
builds one of them the same way), each recognised twice: with every pause squeezed to at
most 0.12 s (one VAD region past Whisper's 30 s window) and with its pauses.

    python benchmarks/long_turn_wer.py [--model tiny.en] [--long-form]

``--long-form`` decodes a region longer than 28 s whole, as Scribe did before
(scribe/speech/chunks.py cuts it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runnable without installing; the turns are built as the test builds them

from scribe.audio.decode import decode_audio  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.pipeline import Pipeline  # noqa: E402
from scribe.speech import chunks  # noqa: E402
from tests.test_long_turn import _alignment, _squeeze, _turn  # noqa: E402

SR = 16000
# Start times of the turns joined, in samples/aci_d2n_visit.json.
TURNS = [
    (188.54, 213.69),
    (139.01, 174.52),
    (99.78, 117.28),
    (117.28, 188.54),
    (14.99, 99.78, 76.62),
    (213.69, 229.67, 244.55),
    (139.01,),
    (188.54,),
    (117.28, 139.01),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--long-form", action="store_true", help="decode a long region whole")
    args = ap.parse_args()
    if args.long_form:
        chunks._cut_region = lambda audio, region, offset, max_seconds: [chunks.Chunk((region,))]
    pipeline = Pipeline(ScribeOptions(model=args.model, language="en"))
    ref = json.loads((REPO / "samples/aci_d2n_visit.json").read_text())
    visit = (decode_audio(REPO / "samples/aci_d2n_visit.wav"), ref["segments"])
    rows, totals = [], {"squeezed": 0.0, "paused": 0.0, "deletions": 0, "insertions": 0}
    for starts in TURNS:
        turns = [_turn(visit, s) for s in starts]
        text = " ".join(t for _, t in turns)
        gap = np.zeros(SR, dtype=np.float32)
        inputs = {
            "squeezed": np.concatenate([_squeeze(a) for a, _ in turns]),
            "paused": np.concatenate([x for a, _ in turns for x in (a, gap)]),
        }
        for kind, audio in inputs.items():
            o = _alignment(text, pipeline.speech_model.transcribe(audio, pipeline.detector(audio)))
            rows.append(
                {"turns": list(starts), "kind": kind, "seconds": round(audio.size / SR, 1), "wer": round(o.wer, 4),
                 "deletions": o.deletions, "insertions": o.insertions}
            )
            totals[kind] += o.wer
            totals["deletions"] += o.deletions
            totals["insertions"] += o.insertions
            print(f"{str(starts):28} {kind:9} WER {o.wer:.3f}  deleted {o.deletions}  inserted {o.insertions}")
    totals = {k: round(v, 3) for k, v in totals.items()}
    print("summed:", totals)
    name = f"long_turn_wer_{args.model}{'_long_form' if args.long_form else ''}.json"
    out = REPO / "benchmarks/results" / name
    out.write_text(json.dumps({"model": args.model, "long_form": args.long_form, "totals": totals, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
