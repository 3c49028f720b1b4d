"""CPU contention between live transcription and a model drafting another visit's note.

The capture service drafts with a model drafter on its own single-worker thread
(``CaptureService.drafting``), beside the compute thread that serves live audio. This
measures what a draft in progress costs a room that is still recording, and what
limiting the drafting thread's torch threads (``scribe.live.drafting.limit_torch_threads``)
changes, in one process as in the service:

- **live**: ``samples/cough_visit`` (79 s) fed through a ``StreamingSession`` in 100 ms
  frames as fast as it takes them, then finished (final clustering and note); wall
  seconds of each repeat, and the median's real-time factor (seconds per second of
  audio).
- **drafting**: meanwhile, a thread runs the ``llm`` drafter's generation over and over
  on a random Llama of a small model's shape (hidden 768, 12 layers, built at run time:
  its words are noise, its arithmetic is a real model's); generated tokens per second.

Conditions, interleaved over the repeats (other load on the machine then hits each
alike; the load average at the start is reported): live alone; live while drafting with
torch's default threads (one per core) or half of them, at normal priority or at nice
10 (``scribe.live.drafting.background_thread``, the service's drafting thread).

    python benchmarks/live_drafting.py [--out benchmarks/results/live_drafting.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FRAME = 3200


def build_model(folder: Path) -> Path:
    """The test suite's tiny-Llama builder's tokenizer, with a small model's shape."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tests.test_llm_drafter import build_model as tiny

    tiny(folder, chat=False)
    fast = PreTrainedTokenizerFast.from_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        num_key_value_heads=12, intermediate_size=2048, max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def live_once(pipeline, audio: bytes) -> float:
    from scribe.live.streaming import StreamingSession

    t0 = time.perf_counter()
    session = StreamingSession(pipeline)
    for i in range(0, len(audio), FRAME):
        session.feed(audio[i : i + FRAME])
    session.finish()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "live_drafting.json")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from scribe.live.drafting import background_thread
    from scribe.notes.llm import LlmDrafter, LlmParams
    from scribe.notes.templates import load_template
    from scribe.options import ScribeOptions
    from scribe.pipeline import Pipeline

    with wave.open(str(REPO / "samples" / "cough_visit.wav")) as w:
        audio = w.readframes(w.getnframes())
        seconds = w.getnframes() / w.getframerate()
    pipeline = Pipeline(ScribeOptions())
    with tempfile.TemporaryDirectory() as tmp:
        drafter = LlmDrafter.load(build_model(Path(tmp) / "llama-small"), LlmParams(max_new_tokens=64))
    prompt = drafter.prompt(load_template("soap"), ["[s0] CLINICIAN: Any fever or chills?", "[s1] PATIENT: No."])
    live_once(pipeline, audio)  # warm-up: every model's first call

    def draft_threads(threads: str) -> int:
        return max(1, (os.cpu_count() or 2) // 2) if threads.endswith("limited") else (os.cpu_count() or 1)

    def initializer(threads: str):
        nice = 10 if threads.startswith("nice") else 0
        return lambda: background_thread(nice, draft_threads(threads))

    def run(threads: str | None) -> tuple[float, float | None]:
        """One live pass, with (or without) a drafting thread busy beside it: the live
        wall seconds and the drafter's generated tokens per second."""
        stop = threading.Event()
        tokens = [0]
        drafting_seconds = [0.0]

        def draft_loop() -> None:
            t0 = time.perf_counter()
            while not stop.is_set():
                drafter.generate(prompt)
                tokens[0] += drafter.new_tokens()
            drafting_seconds[0] = time.perf_counter() - t0

        if threads is None:
            return live_once(pipeline, audio), None
        # Set either way: torch's thread count is per thread, and a new thread starts
        # from the last count set anywhere.
        pool = ThreadPoolExecutor(1, thread_name_prefix="scribe-draft", initializer=initializer(threads))
        future = pool.submit(draft_loop)
        while tokens[0] == 0:  # drafting under way before the visit starts
            time.sleep(0.1)
        wall = live_once(pipeline, audio)
        stop.set()
        future.result()
        pool.shutdown()
        return wall, tokens[0] / drafting_seconds[0]

    conditions = {"alone": None, "drafting": "default", "drafting_limited_threads": "limited",
                  "drafting_nice": "nice", "drafting_nice_limited_threads": "nice_limited"}
    walls: dict[str, list[float]] = {name: [] for name in conditions}
    rates: dict[str, list[float]] = {name: [] for name in conditions}
    load = os.getloadavg()
    for _ in range(args.repeats):  # interleaved: the machine's other load hits each alike
        for name, threads in conditions.items():
            wall, rate = run(threads)
            walls[name].append(wall)
            if rate is not None:
                rates[name].append(rate)
    results = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average_at_start": [round(x, 2) for x in load]},
        "audio_seconds": round(seconds, 1),
    }
    for name, threads in conditions.items():
        entry = {"live_seconds": [round(w, 2) for w in walls[name]],
                 "live_rtf_median": round(statistics.median(walls[name]) / seconds, 3)}
        if threads is not None:
            entry["draft_threads"] = draft_threads(threads)
            entry["draft_nice"] = 10 if threads.startswith("nice") else 0
            entry["draft_tokens_per_second_median"] = round(statistics.median(rates[name]), 1)
        results[name] = entry
    print(json.dumps(results, indent=2))
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
