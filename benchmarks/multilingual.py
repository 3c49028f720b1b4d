"""Visits in other languages, end to end: language per segment, the original transcript's
WER, the translation's chrF and BLEU, the note against the same visit held in English,
and the real-time-factor cost, measured in one run.

    python benchmarks/multilingual.py [--set tuning|held_out|all] [--languages en,es,it]

Data: the synthetic visits of ``tests/language_visits.py`` (English/Spanish and
English/Italian visits, some wholly in Spanish or Italian, some with an interpreter;
espeak-ng, festival and flite voices; each with an all-English rendering of the same
script). Each visit is processed by the real pipeline (``Pipeline.process``; Whisper
base, int8, greedy; the note language English) three ways:

- ``mixed``: as held, the language decided per speech region and the speech not in
  English translated by Whisper's translate task;
- ``english_base``: the English rendering, Whisper base with ``language="en"`` (the same
  model without language ID or translation: the cost baseline);
- ``english_tiny``: the English rendering with the default model (tiny.en).

Scores (each hypothesis segment is scored against the reference turn it overlaps most):

- language ID: share of segments (and of segment seconds) whose ``language`` is the
  turn's;
- WER of the original transcript, per spoken language (``jiwer``; lower case, no
  punctuation; accents kept);
- chrF and BLEU (``sacrebleu``, corpus level) of each non-English turn's translation
  (its segments' translations joined) against the script's English;
- the note: ROUGE-1/L F (``rouge-score``) of the mixed visit's note against the note of
  its English rendering (``english_base``), and the share of the script's numbers and
  drug names that reach each note;
- RTF: processing seconds per audio second, and the mixed run's over english_base's.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import jiwer  # noqa: E402
import sacrebleu  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from scribe.notes.render import render_note_text  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.pipeline import Pipeline  # noqa: E402
from tests import language_visits  # noqa: E402

OUT = REPO / "benchmarks/results/multilingual.json"
# Drug names of the scripts, for the facts-reached score (numbers are found by pattern).
DRUGS = re.compile(
    r"\b(omeprazole|ibuprofen|nitrofurantoin|metformin|amoxicillin|albuterol|salbutamol|lisinopril|amlodipine|"
    r"allopurinol|colchicine|prednisone|hydrocortisone|cetirizine|tiotropium|paracetamol|acetaminophen|"
    r"naproxen|penicillin|sulfa|insulin|glipizide|metoprolol|bisoprolol|atorvastatin|aspirin|codeine|"
    r"azithromycin|doxycycline|ciprofloxacin|cephalexin|losartan|hydrochlorothiazide|furosemide)\b",
    re.I,
)
NUMBER_WORDS = re.compile(
    r"\b(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand)\b",
    re.I,
)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text.lower())
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def _turn_of(seg, turns) -> int | None:
    best, best_overlap = None, 0.0
    for i, t in enumerate(turns):
        overlap = min(seg.end, t["end"]) - max(seg.start, t["start"])
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    return best


def _facts(text: str) -> set[str]:
    return {m.lower() for m in DRUGS.findall(text)} | {m.lower() for m in NUMBER_WORDS.findall(text)}


def run(pipeline: Pipeline, wav: Path):
    t0 = time.perf_counter()
    result = pipeline.process(str(wav))
    return result, time.perf_counter() - t0


def score_mixed(result, ref: dict) -> dict:
    turns = ref["segments"]
    segs = [s for s in result.transcript.segments if s.words]
    by_turn: dict[int, list] = {}
    for s in segs:
        i = _turn_of(s, turns)
        if i is not None:
            by_turn.setdefault(i, []).append(s)
    right = sum(1 for i, ss in by_turn.items() for s in ss if s.language == turns[i]["language"])
    right_s = sum(s.end - s.start for i, ss in by_turn.items() for s in ss if s.language == turns[i]["language"])
    total_s = sum(s.end - s.start for ss in by_turn.values() for s in ss)
    wer_by: dict[str, tuple[list[str], list[str]]] = {}
    translations: list[tuple[str, str]] = []
    for i, t in enumerate(turns):
        ss = by_turn.get(i, [])
        refs, hyps = wer_by.setdefault(t["language"], ([], []))
        refs.append(_norm(t["text"]))
        hyps.append(_norm(" ".join(s.text for s in ss)))
        if t["language"] != "en":
            translations.append((t["english"], " ".join(s.translation or "" for s in ss).strip()))
    return {
        "segments": len(segs),
        "language_right": right,
        "language_right_seconds": round(right_s, 2),
        "segment_seconds": round(total_s, 2),
        "wer": {lang: jiwer.wer(r, h) if any(r) else None for lang, (r, h) in wer_by.items()},
        "wer_counts": {lang: _counts(r, h) for lang, (r, h) in wer_by.items()},
        "translations": translations,
    }


def _counts(refs: list[str], hyps: list[str]) -> dict:
    out = jiwer.process_words(refs, [h or "" for h in hyps])
    return {"ref_words": sum(len(r.split()) for r in refs), "errors": out.substitutions + out.deletions + out.insertions}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("tuning", "held_out", "all"), default="held_out")
    ap.add_argument("--languages", default="", help="candidate languages, e.g. en,es,it (default: any)")
    ap.add_argument("--skip-english", action="store_true", help="only the mixed runs (no cost baseline, no note comparison)")
    ap.add_argument("--trust-every-translation", action="store_true",
                    help="keep translated segments Whisper would not trust (the rule before it was added)")
    args = ap.parse_args()
    if args.trust_every_translation:
        from scribe.speech import whisper

        whisper._LOOP_COMPRESSION, whisper._MIN_LOGPROB = float("inf"), float("-inf")
    visits = {"tuning": language_visits.TUNING, "held_out": language_visits.HELD_OUT,
              "all": language_visits.TUNING + language_visits.HELD_OUT}[args.set]
    languages = tuple(x for x in args.languages.split(",") if x)
    mixed = Pipeline(ScribeOptions(model="base", languages=languages))
    english_base = Pipeline(ScribeOptions(model="base", language="en")) if not args.skip_english else None
    english_tiny = Pipeline(ScribeOptions()) if not args.skip_english else None
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    rows = []
    seconds = {"mixed": 0.0, "english_base": 0.0, "english_tiny": 0.0}
    audio = {"mixed": 0.0, "english": 0.0}
    all_translations: list[tuple[str, str]] = []
    wer_totals: dict[str, list[int]] = {}
    for visit in visits:
        wav, ref_path = language_visits.make(visit)
        ref = json.loads(ref_path.read_text(encoding="utf-8"))
        result, took = run(mixed, wav)
        seconds["mixed"] += took
        audio["mixed"] += result.transcript.duration
        scored = score_mixed(result, ref)
        all_translations.extend(scored.pop("translations"))
        for lang, c in scored["wer_counts"].items():
            tot = wer_totals.setdefault(lang, [0, 0])
            tot[0] += c["errors"]
            tot[1] += c["ref_words"]
        note = render_note_text(result.note)
        row = {"visit": visit.name, "shape": visit.shape, "duration": result.transcript.duration,
               "seconds": round(took, 2), "languages": result.transcript.languages(), **scored}
        script_facts = _facts(" ".join(t["english"] for t in ref["segments"]))
        row["facts_in_note"] = round(len(_facts(note) & script_facts) / max(len(script_facts), 1), 3)
        if english_base is not None:
            en_wav, _ = language_visits.make(visit.in_english())
            en_result, en_took = run(english_base, en_wav)
            tiny_result, tiny_took = run(english_tiny, en_wav)
            seconds["english_base"] += en_took
            seconds["english_tiny"] += tiny_took
            audio["english"] += en_result.transcript.duration
            en_note = render_note_text(en_result.note)
            s = scorer.score(en_note, note)
            row["note_vs_english"] = {"rouge1_f": round(s["rouge1"].fmeasure, 3), "rougeL_f": round(s["rougeL"].fmeasure, 3)}
            row["facts_in_english_note"] = round(len(_facts(en_note) & script_facts) / max(len(script_facts), 1), 3)
            row["english_seconds"] = {"base": round(en_took, 2), "tiny": round(tiny_took, 2)}
        rows.append(row)
        print(f"{visit.name:28} lang {row['language_right']}/{row['segments']} "
              f"wer {json.dumps({k: round(v, 3) for k, v in row['wer'].items() if v is not None})} "
              f"facts {row['facts_in_note']} / en {row.get('facts_in_english_note')} "
              f"rouge1 {row.get('note_vs_english', {}).get('rouge1_f')} {took:.1f} s", flush=True)
    hyps = [h for _, h in all_translations]
    refs = [r for r, _ in all_translations]
    summary = {
        "set": args.set,
        "languages": list(languages),
        "visits": len(rows),
        "language_id_segments": round(sum(r["language_right"] for r in rows) / max(sum(r["segments"] for r in rows), 1), 3),
        "language_id_seconds": round(sum(r["language_right_seconds"] for r in rows)
                                     / max(sum(r["segment_seconds"] for r in rows), 1e-9), 3),
        "wer": {lang: round(e / max(n, 1), 3) for lang, (e, n) in wer_totals.items()},
        "translation_chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 1),
        "translation_bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 1),
        # Only the turns given a translation: how good what reaches the note is.
        "translation_chrf_translated_turns": round(
            sacrebleu.corpus_chrf([h for h in hyps if h], [[r for r, h in all_translations if h]]).score, 1
        ) if any(hyps) else None,
        "translated_turns": len(all_translations),
        "untranslated_turns": sum(1 for h in hyps if not h),
        "facts_in_note": round(sum(r["facts_in_note"] for r in rows) / len(rows), 3),
        "rtf_mixed": round(seconds["mixed"] / max(audio["mixed"], 1e-9), 3),
    }
    if english_base is not None:
        summary.update({
            "note_rouge1_vs_english": round(sum(r["note_vs_english"]["rouge1_f"] for r in rows) / len(rows), 3),
            "note_rougeL_vs_english": round(sum(r["note_vs_english"]["rougeL_f"] for r in rows) / len(rows), 3),
            "facts_in_english_note": round(sum(r["facts_in_english_note"] for r in rows) / len(rows), 3),
            "rtf_english_base": round(seconds["english_base"] / max(audio["english"], 1e-9), 3),
            "rtf_english_tiny": round(seconds["english_tiny"] / max(audio["english"], 1e-9), 3),
        })
        summary["rtf_mixed_over_english_base"] = round(summary["rtf_mixed"] / max(summary["rtf_english_base"], 1e-9), 2)
    print(json.dumps(summary, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    key = f"{args.set}" + (f"+{','.join(languages)}" if languages else "") + (
        "+trust-every-translation" if args.trust_every_translation else "")
    summary["trust_every_translation"] = args.trust_every_translation
    existing = json.loads(OUT.read_text()) if OUT.exists() else {}
    existing[key] = {"summary": summary, "visits": rows}
    OUT.write_text(json.dumps(existing, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
