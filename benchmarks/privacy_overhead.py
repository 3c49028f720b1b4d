"""What privacy mode costs: batch processing time with privacy on and off, interleaved.

One pipeline (models loaded once) processes the same visits in three modes, the modes'
order rotating every round so drift of the machine (thermal, caches, other load) falls
on all of them alike:

- privacy: audio sealed into AES-256-GCM transient buffers under an in-memory key, the
  pipeline reading decrypted windows back; transcript sealed; key destroyed at close.
- standard: the visit journaled to disk, encrypted under the site key, fsync per second.
- bare: no visit at all (the pipeline alone), the floor both are compared against.

    python benchmarks/privacy_overhead.py [--rounds 3]

Streaming per-utterance latency joins this benchmark when the capture service exists.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from privacy.store import VisitStore
from privacy.visit import Visit
from scribe.options import ScribeOptions
from scribe.pipeline import Pipeline

REPO = Path(__file__).resolve().parent.parent
VISITS = ["cough_visit", "knee_followup", "aci_d2n_visit"]
MODES = ["privacy", "standard", "bare"]


def run(pipeline: Pipeline, path: Path, mode: str, store: VisitStore) -> float:
    visit = None
    if mode == "privacy":
        visit = Visit(privacy=True)
    elif mode == "standard":
        visit = Visit(privacy=False, store=store)
    t0 = time.perf_counter()
    if visit is None:
        pipeline.process(path)
    else:
        with visit:
            pipeline.process(path, visit=visit)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pipeline = Pipeline(ScribeOptions())
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        store = VisitStore(Path(tmp) / "visits", bytearray(32))
        run(pipeline, REPO / "samples" / "cough_visit.wav", "bare", store)  # warm-up
        for r in range(args.rounds):
            order = MODES[r % 3 :] + MODES[: r % 3]
            for name in VISITS:
                for mode in order:
                    times[mode].append(run(pipeline, REPO / "samples" / f"{name}.wav", mode, store))
    total = {m: sum(v) for m, v in times.items()}
    per_visit = {
        m: [statistics.median(times[m][i::len(VISITS)]) for i in range(len(VISITS))] for m in MODES
    }
    report = {
        "rounds": args.rounds,
        "visits": VISITS,
        "total_seconds": {m: round(v, 3) for m, v in total.items()},
        "median_seconds_per_visit": {m: [round(x, 3) for x in v] for m, v in per_visit.items()},
        "overhead_privacy_vs_bare": round(total["privacy"] / total["bare"] - 1, 4),
        "overhead_privacy_vs_standard": round(total["privacy"] / total["standard"] - 1, 4),
        "overhead_standard_vs_bare": round(total["standard"] / total["bare"] - 1, 4),
    }
    for m in MODES:
        print(f"{m:9} total {total[m]:7.2f} s   per visit (median) {per_visit[m]}")
    print(f"privacy vs bare:     {report['overhead_privacy_vs_bare']:+.2%}")
    print(f"privacy vs standard: {report['overhead_privacy_vs_standard']:+.2%}")
    print(f"standard vs bare:    {report['overhead_standard_vs_bare']:+.2%}")
    out = REPO / "benchmarks/results/privacy_overhead.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
