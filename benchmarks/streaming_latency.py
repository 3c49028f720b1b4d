"""Live latency of the capture service, measured through its WebSocket like a recorder.

For each mode (privacy on, privacy off) a real `scribe serve` process is started and:

1. Every sample visit is replayed at real-time pace in 100 ms frames. For each committed
   utterance: latency = the time its first line's event arrived - the time the speech
   of the utterance ended in the audio (``utterance_end``: where the VAD heard the
   pause begin; the replay is paced by the clock, so that is when the audio was sent).
   A long utterance can come back as several lines; they arrive together.
2. A ~15-minute visit (the samples, looped) is fed as fast as the service takes it;
   once the service has caught up (a ping answered in order), stop is sent: the time
   to the complete final note is reported.

Targets on a 2-core machine: p50 <= 500 ms, p95 <= 1 s, note <= 2 s after stop.

    python benchmarks/streaming_latency.py [--samples cough_visit ...] [--long-minutes 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.service_process import ServiceProcess  # noqa: E402

SAMPLES = ["cough_visit", "knee_followup", "aci_d2n_visit"]
FRAME = 3200  # 100 ms


def pcm(name: str) -> bytes:
    with wave.open(str(REPO / "samples" / f"{name}.wav")) as w:
        return w.readframes(w.getnframes())


async def replay(client, audio: bytes, *, paced: bool) -> dict:
    visit = client.request("POST", "/api/visits", {})["visit"]
    latencies: list[float] = []
    seen_ends: set[float] = set()
    lines = 0
    async with client.connect(visit) as ws:
        await ws.recv()  # ready
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        caught_up = asyncio.Event()
        final: dict = {}

        async def receive():
            nonlocal lines
            while True:
                ev = json.loads(await ws.recv())
                now = loop.time()
                if ev["type"] == "line":
                    lines += 1
                    if paced and ev["utterance_end"] not in seen_ends:
                        seen_ends.add(ev["utterance_end"])
                        latencies.append(now - (t0 + ev["utterance_end"]))
                elif ev["type"] == "pong":
                    caught_up.set()
                elif ev["type"] == "final":
                    final.update(ev, received_at=now)
                    return

        receiver = asyncio.create_task(receive())
        for i in range(0, len(audio), FRAME):
            if paced:
                delay = t0 + i / 32000 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await ws.send(audio[i : i + FRAME])
        await ws.send(json.dumps({"type": "ping"}))
        await caught_up.wait()
        stop_sent = loop.time()
        await ws.send(json.dumps({"type": "stop"}))
        await receiver
    client.request("DELETE", f"/api/visits/{visit}")
    return {
        "audio_seconds": round(len(audio) / 32000, 1),
        "lines": lines,
        "latencies": latencies,
        "stop_to_note": final["received_at"] - stop_sent,
        "final_segments": len(final["transcript"]),
    }


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run_mode(privacy: bool, names: list[str], long_minutes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"SCRIBE_DATA_DIR": str(Path(tmp) / "data"), "TMPDIR": tmp}
        with ServiceProcess("--privacy" if privacy else "--no-privacy", env=env) as svc:
            per_sample = {}
            for name in names:
                r = asyncio.run(replay(svc.client, pcm(name), paced=True))
                per_sample[name] = r
                print(f"  {'privacy' if privacy else 'standard'} {name}: {r['lines']} lines, "
                      f"p50 {pct(r['latencies'], 50) * 1000:.0f} ms, stop->note {r['stop_to_note']:.2f} s", flush=True)
            audio = b""
            while len(audio) < long_minutes * 60 * 32000:
                audio += b"".join(pcm(n) for n in SAMPLES)
            audio = audio[: int(long_minutes * 60 * 32000)]
            long = asyncio.run(replay(svc.client, audio, paced=False))
            print(f"  {long['audio_seconds'] / 60:.1f} min visit: stop->note {long['stop_to_note']:.2f} s", flush=True)
    latencies = [x for r in per_sample.values() for x in r["latencies"]]
    return {
        "utterances": len(latencies),
        "p50_ms": round(pct(latencies, 50) * 1000),
        "p95_ms": round(pct(latencies, 95) * 1000),
        "max_ms": round(max(latencies) * 1000),
        "per_sample": {
            n: {"lines": r["lines"], "p50_ms": round(pct(r["latencies"], 50) * 1000),
                "p95_ms": round(pct(r["latencies"], 95) * 1000), "stop_to_note_s": round(r["stop_to_note"], 3)}
            for n, r in per_sample.items()
        },
        "long_visit": {"minutes": round(long["audio_seconds"] / 60, 1), "stop_to_note_s": round(long["stop_to_note"], 3),
                       "segments": long["final_segments"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", nargs="+", default=SAMPLES)
    ap.add_argument("--long-minutes", type=float, default=15.0)
    ap.add_argument("--order", choices=["privacy-first", "standard-first"], default="privacy-first",
                    help="which mode runs first (drift of the machine falls on the second)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "streaming_latency.json")
    args = ap.parse_args()
    results = {}
    for privacy in ((True, False) if args.order == "privacy-first" else (False, True)):
        results["privacy" if privacy else "standard"] = run_mode(privacy, args.samples, args.long_minutes)
    p, s = results["privacy"], results["standard"]
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "samples": args.samples,
        "order": args.order,
        "model": "tiny.en (default)",
        "latency_definition": "first line event of an utterance received - (replay start + utterance_end); real-time replay, 100 ms frames",
        **results,
        "privacy_vs_standard": {
            "p50_ratio": round(p["p50_ms"] / s["p50_ms"], 3),
            "p95_ratio": round(p["p95_ms"] / s["p95_ms"], 3),
            "stop_to_note_ratio": round(p["long_visit"]["stop_to_note_s"] / s["long_visit"]["stop_to_note_s"], 3),
        },
        "targets": {"p50_ms": 500, "p95_ms": 1000, "stop_to_note_s": 2.0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n| mode | utterances | p50 | p95 | max | stop->note ({p['long_visit']['minutes']} min) |")
    print("|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {r['utterances']} | {r['p50_ms']} ms | {r['p95_ms']} ms | {r['max_ms']} ms | "
              f"{r['long_visit']['stop_to_note_s']:.2f} s |")
    print(f"privacy/standard: p50 x{report['privacy_vs_standard']['p50_ratio']}, "
          f"p95 x{report['privacy_vs_standard']['p95_ratio']}, stop->note x{report['privacy_vs_standard']['stop_to_note_ratio']}")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
