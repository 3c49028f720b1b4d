"""Real-time factor and peak memory of the whole batch pipeline, per speech model.

Each model runs in its own child process so its peak RSS is its own. RTF is processing
time (decode, VAD, speech model, embeddings, clustering, roles, drafting) over audio
duration; model loading is reported apart, since the capture service loads once.

The default input is a visit of more than five minutes: samples/aci_d2n_visit.wav
followed by samples/cough_visit.wav (the same two synthesized voices), 5 min 54 s.

    python benchmarks/pipeline_speed.py [--file VISIT.wav] [--models tiny.en base]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child(model: str, file: str) -> None:
    t0 = time.perf_counter()
    from scribe.options import ScribeOptions
    from scribe.pipeline import Pipeline

    pipeline = Pipeline(ScribeOptions(model=model))
    t1 = time.perf_counter()
    result = pipeline.process(file)
    t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "model": model,
        "file": file,
        "audio_seconds": result.transcript.duration,
        "load_seconds": round(t1 - t0, 2),
        "process_seconds": round(t2 - t1, 2),
        "rtf": round((t2 - t1) / result.transcript.duration, 4),
        "peak_rss_mb": round(peak_mb, 1),
        "stages": {k: round(v, 2) for k, v in result.timings.items()},
        "segments": len(result.transcript.segments),
        "speakers": len(result.annotation.labels()),
    }))


def five_minute_visit(folder: str) -> str:
    import wave

    from privacy import SAMPLE_RATE

    path = Path(folder) / "visit_5min.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for name in ("aci_d2n_visit", "cough_visit"):
            with wave.open(str(REPO / "samples" / f"{name}.wav")) as part:
                out.writeframes(part.readframes(part.getnframes()))
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=None)
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/pipeline_speed.json"))
    args = ap.parse_args()
    if args.child:
        child(args.models[0], args.file)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        file = args.file or five_minute_visit(tmp)
        for model in args.models:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", "--models", model, "--file", file],
                capture_output=True, text=True, check=True,
            )
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["file"] = args.file or "samples/aci_d2n_visit.wav + samples/cough_visit.wav"
            rows.append(row)
    print(f"{'model':8} {'audio s':>8} {'load s':>7} {'proc s':>7} {'RTF':>7} {'peak MB':>8}  stages")
    for r in rows:
        print(f"{r['model']:8} {r['audio_seconds']:8.1f} {r['load_seconds']:7.2f} {r['process_seconds']:7.2f} "
              f"{r['rtf']:7.4f} {r['peak_rss_mb']:8.0f}  {r['stages']}")
    report = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
