"""Throughput of `scribe transcribe --ray` on this machine: 1 and 2 workers side by side.

One Ray runtime on loopback (``ray_runner.connect("local")``, two CPUs); for each worker
count in turn (``--rounds`` repeats the pair, alternating the order so that load from
others on a shared machine falls on both), fresh worker actors load the pipeline, then
the same batch of recordings runs through ``run_ray`` exactly as the CLI runs it
(privacy mode, tiny.en, the default options), published into a fresh folder.

Reported per round: wall seconds from the first job handed out to the last file
published (model loading apart, as ``load_seconds``), recordings per minute, audio-hours
per hour (audio seconds over wall seconds), and each worker's peak RSS (``ru_maxrss`` of
the actor process, MiB). The batch is ``--copies`` recordings cycling through the three
samples (aci_d2n_visit 275 s, cough_visit 79 s, knee_followup 99 s).

    python benchmarks/ray_throughput.py [--copies 8] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLES = ("aci_d2n_visit.wav", "cough_visit.wav", "knee_followup.wav")


def batch(folder: Path, copies: int) -> list:
    from scribe.batch.runner import expand_inputs

    folder.mkdir()
    for i in range(copies):
        name = SAMPLES[i % len(SAMPLES)]
        shutil.copy(REPO / "samples" / name, folder / f"{i:02d}_{name}")
    jobs, failures = expand_inputs([folder])
    assert not failures
    return jobs


def one_round(cluster, jobs: list, workers: int, out: Path) -> dict:
    import ray

    from scribe.batch.ray_runner import run_ray, start_workers
    from scribe.cli.app import load_pipeline
    from scribe.options import ScribeOptions

    t0 = time.perf_counter()
    pool = start_workers(cluster, workers, load=load_pipeline, options=ScribeOptions(), privacy=True)
    t1 = time.perf_counter()
    out.mkdir()
    outcomes = list(run_ray(jobs, pool, out=out))
    t2 = time.perf_counter()
    failed = [str(e) for o in outcomes for e in o.errors]
    assert not failed, failed
    rss = ray.get([h.peak_rss_mb.remote() for h in pool.handles])
    per_worker = {}
    for o in outcomes:
        w = per_worker.setdefault(o.worker.index, {"recordings": 0, "audio_seconds": 0.0, "busy_seconds": 0.0})
        w["recordings"] += 1
        w["audio_seconds"] += o.audio_seconds
        w["busy_seconds"] += o.seconds
    for handle in pool.handles:
        ray.kill(handle)
    wall = t2 - t1
    audio = sum(o.audio_seconds for o in outcomes)
    return {
        "workers": workers,
        "recordings": len(outcomes),
        "audio_seconds": round(audio, 1),
        "load_seconds": round(t1 - t0, 1),
        "wall_seconds": round(wall, 1),
        "recordings_per_minute": round(len(outcomes) / (wall / 60), 2),
        "audio_hours_per_hour": round(audio / wall, 1),
        "peak_rss_mb_per_worker": [round(r, 1) for r in rss],
        "per_worker": {str(k): {**v, "audio_seconds": round(v["audio_seconds"], 1),
                                "busy_seconds": round(v["busy_seconds"], 1),
                                "audio_hours_per_hour": round(v["audio_seconds"] / v["busy_seconds"], 1)}
                       for k, v in sorted(per_worker.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=8, help="recordings in the batch")
    ap.add_argument("--rounds", type=int, default=1, help="how many times the 1-and-2-worker pair runs")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/ray_throughput.json"))
    args = ap.parse_args()

    from scribe.batch.ray_cluster import connect

    runs = []
    with tempfile.TemporaryDirectory() as tmp, connect("local", cpus=2) as cluster:
        os.environ.setdefault("SCRIBE_DATA_DIR", str(Path(tmp) / "data"))
        jobs = batch(Path(tmp) / "in", args.copies)
        for r in range(args.rounds):
            for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
                run = one_round(cluster, jobs, workers, Path(tmp) / f"out-{r}-{workers}")
                print(json.dumps(run), flush=True)
                runs.append(run)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "batch": {"copies": args.copies, "samples": list(SAMPLES), "model": "tiny.en", "privacy": True},
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
