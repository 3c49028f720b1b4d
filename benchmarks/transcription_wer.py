"""Word error rate of the speech model on the sample visits, per model.

    python benchmarks/transcription_wer.py [--models tiny.en base]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scribe.options import ScribeOptions
from scribe.pipeline import Pipeline
from scribe.scoring import wer

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    args = ap.parse_args()
    rows = []
    for model in args.models:
        pipeline = Pipeline(ScribeOptions(model=model, language="en"))
        for ref_path in sorted((REPO / "samples").glob("*.json")):
            ref = json.loads(ref_path.read_text())
            result = pipeline.process(REPO / "samples" / f"{ref_path.stem}.wav")
            w = wer(" ".join(s["text"] for s in ref["segments"]), result.transcript.text)
            rows.append({"model": model, "uri": ref_path.stem, "wer": round(w, 4)})
            print(f"{model:8} {ref_path.stem:20} WER {w:.3f}")
    out = REPO / "benchmarks/results/transcription_wer.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
