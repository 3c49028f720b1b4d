"""Per-turn language ID, translation and transcription with Whisper base on the
mixed-language visits of tests/language_visits.py (raw measurements, no thresholds).

For every turn of every visit, the audio is cut at the reference turn times and:

- ``WhisperModel.detect_language(audio=turn)`` gives (language, probability, all
  probabilities): accuracy overall and by turn duration (<1 s, 1-2 s, 2-4 s, >4 s),
  accuracy when the call is restricted to the candidates {en, es, it} (argmax of the
  all-probabilities among them), the probability of wrong and of right calls (to choose
  a threshold on), and the CPU and wall seconds per detection;
- the same on the turn's first 0.5 and 1 s (``prefix``), since the visits have few
  turns under 2 s;
- ``transcribe(task="translate", language=<true language>)`` on Spanish and Italian
  turns: chrF (sacrebleu.corpus_chrf) against the turn's English reference;
- ``transcribe(task="transcribe", language=<true language>)``: WER against the spoken
  text (English: scribe.scoring's normalisation; Spanish/Italian: lowercased,
  punctuation stripped, accents kept). References spell numbers as words and Whisper
  often writes digits, which counts as errors in both WER and chrF.

The all-English renderings of the same scripts are run through language ID too (and
their transcripts' WER), as the English-only baseline.

Decoding as scribe/speech/whisper.py: greedy (beam 1), temperature 0, no conditioning on
previous text, no VAD filter.

    python benchmarks/language_id.py                      # TUNING and HELD_OUT
    python benchmarks/language_id.py --sets tuning --no-text
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scribe.models import whisper_model  # noqa: E402
from scribe.scoring import normalize_text  # noqa: E402
from tests import language_visits as lv  # noqa: E402

CANDIDATES = ("en", "es", "it")
BUCKETS = [("<1s", 0.0, 1.0), ("1-2s", 1.0, 2.0), ("2-4s", 2.0, 4.0), (">4s", 4.0, float("inf"))]
PREFIXES = (0.5, 1.0)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
OUT = REPO / "benchmarks/results/language_id.json"
DECODE = dict(beam_size=1, temperature=0.0, condition_on_previous_text=False, vad_filter=False)


def _bucket(seconds: float) -> str:
    return next(name for name, lo, hi in BUCKETS if lo <= seconds < hi)


def _norm(text: str, language: str) -> str:
    if language == "en":
        return normalize_text(text)
    text = unicodedata.normalize("NFC", text.lower()).replace("-", " ").replace("'", " ").replace("’", " ")
    text = re.sub(r"[^\w ]+", " ", text)
    return " ".join(text.split())


def _detect(model, audio: np.ndarray) -> dict:
    c0, w0 = time.process_time(), time.perf_counter()
    lang, prob, all_probs = model.detect_language(audio=audio.astype(np.float32))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    probs = dict(all_probs)
    restricted = max(CANDIDATES, key=lambda c: probs.get(c, 0.0))
    total = sum(probs.get(c, 0.0) for c in CANDIDATES) or 1.0
    return {
        "lang": lang, "prob": round(float(prob), 4), "restricted": restricted,
        "restricted_prob": round(probs.get(restricted, 0.0) / total, 4),  # renormalised over the candidates
        "top3": [(code, round(float(p), 4)) for code, p in all_probs[:3]],
        "probs": {c: round(float(probs.get(c, 0.0)), 4) for c in CANDIDATES},
        "cpu_s": round(cpu, 4), "wall_s": round(wall, 4),
    }


def _text(model, audio: np.ndarray, language: str, task: str) -> tuple[str, float]:
    c0 = time.process_time()
    segments, _ = model.transcribe(audio.astype(np.float32), language=language, task=task, **DECODE)
    text = " ".join(s.text.strip() for s in segments).strip()
    return text, time.process_time() - c0


def run_visit(model, visit, text: bool, prefixes: bool) -> list[dict]:
    wav, ref_path = lv.make(visit)
    audio, sr = sf.read(str(wav), dtype="float32")
    assert sr == 16000
    ref = json.loads(ref_path.read_text(encoding="utf-8"))
    rows = []
    for i, seg in enumerate(ref["segments"]):
        cut = audio[int(round(seg["start"] * sr)): int(round(seg["end"] * sr))]
        dur = len(cut) / sr
        row = {"visit": visit.name, "turn": i, "role": seg["role"], "language": seg["language"],
               "voice": seg["voice"], "duration": round(dur, 3), "bucket": _bucket(dur),
               "text": seg["text"], "english": seg["english"]}
        row["detect"] = _detect(model, cut)
        if prefixes:
            row["prefix"] = {str(p): _detect(model, cut[: int(p * sr)]) for p in PREFIXES if dur > p + 0.25}
        if text:
            row["transcript"], row["transcribe_cpu_s"] = _text(model, cut, seg["language"], "transcribe")
            if seg["language"] != "en":
                row["translation"], row["translate_cpu_s"] = _text(model, cut, seg["language"], "translate")
        rows.append(row)
    return rows


def _acc(rows, key="lang", field="detect") -> dict:
    n = len(rows)
    ok = sum(r[field][key] == r["language"] for r in rows)
    return {"n": n, "correct": ok, "accuracy": round(ok / n, 4) if n else None}


def _quantiles(values) -> dict | None:
    if not values:
        return None
    v = sorted(values)
    q = (lambda f: round(float(np.quantile(v, f)), 4))
    return {"n": len(v), "min": round(v[0], 4), "p10": q(0.1), "p25": q(0.25), "median": q(0.5),
            "p75": q(0.75), "p90": q(0.9), "max": round(v[-1], 4)}


def _lid_summary(rows, field="detect") -> dict:
    dets = [(r, r[field]) for r in rows]
    wrong = [(r, d) for r, d in dets if d["lang"] != r["language"]]
    right = [(r, d) for r, d in dets if d["lang"] == r["language"]]
    out = {
        "all": _acc(rows, "lang", field),
        "restricted_to_candidates": _acc(rows, "restricted", field),
        "by_language": {lang: {"all": _acc(sub, "lang", field), "restricted": _acc(sub, "restricted", field)}
                        for lang in CANDIDATES if (sub := [r for r in rows if r["language"] == lang])},
        "by_bucket": {b: {"all": _acc(sub, "lang", field), "restricted": _acc(sub, "restricted", field)}
                      for b, _, _ in BUCKETS if (sub := [r for r in rows if r["bucket"] == b])},
        "by_voice": {v: {"all": _acc(sub, "lang", field), "restricted": _acc(sub, "restricted", field)}
                     for v in sorted({r["voice"] for r in rows}) if (sub := [r for r in rows if r["voice"] == v])},
        "wrong_call_prob": _quantiles([d["prob"] for _, d in wrong]),
        "wrong_call_true_language_prob": _quantiles([d["probs"].get(r["language"], 0.0) for r, d in wrong]),
        "right_call_prob": _quantiles([d["prob"] for _, d in right]),
        "wrong_calls_as": _count(d["lang"] for _, d in wrong),
        # keep a call only when its probability >= t: how many right calls survive, how
        # many wrong ones do
        "threshold_sweep": {str(t): {"right_kept": sum(d["prob"] >= t for _, d in right),
                                     "wrong_kept": sum(d["prob"] >= t for _, d in wrong)} for t in THRESHOLDS},
        "restricted_wrong_prob": _quantiles([d["restricted_prob"] for r, d in dets
                                             if d["restricted"] != r["language"]]),
        "cpu_s_per_detection": _quantiles([d["cpu_s"] for _, d in dets]),
        "wall_s_per_detection": _quantiles([d["wall_s"] for _, d in dets]),
    }
    return out


def _count(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _text_summary(rows) -> dict:
    import jiwer
    import sacrebleu

    out = {"chrf_translate": {}, "wer_transcribe": {}}
    for lang in ("es", "it"):
        sub = [r for r in rows if r["language"] == lang and "translation" in r]
        if sub:
            chrf = sacrebleu.corpus_chrf([r["translation"] for r in sub], [[r["english"] for r in sub]])
            out["chrf_translate"][lang] = {"n": len(sub), "chrf": round(chrf.score, 2),
                                           "translate_cpu_s": _quantiles([r["translate_cpu_s"] for r in sub])}
    for lang in CANDIDATES:
        sub = [r for r in rows if r["language"] == lang and "transcript" in r]
        pairs = [(_norm(r["text"], lang), _norm(r["transcript"], lang)) for r in sub]
        pairs = [(a, b) for a, b in pairs if a]
        if pairs:
            out["wer_transcribe"][lang] = {"n": len(pairs),
                                           "wer": round(jiwer.wer([a for a, _ in pairs], [b for _, b in pairs]), 4),
                                           "transcribe_cpu_s": _quantiles([r["transcribe_cpu_s"] for r in sub])}
    out["by_voice"] = {}
    for voice in sorted({r["voice"] for r in rows if "transcript" in r}):
        sub = [r for r in rows if r["voice"] == voice and "transcript" in r]
        lang = sub[0]["language"]
        pairs = [(_norm(r["text"], lang), _norm(r["transcript"], lang)) for r in sub if _norm(r["text"], lang)]
        v = {"language": lang, "n": len(sub), "wer": round(jiwer.wer([a for a, _ in pairs], [b for _, b in pairs]), 4)}
        tr = [r for r in sub if "translation" in r]
        if tr:
            v["chrf"] = round(sacrebleu.corpus_chrf([r["translation"] for r in tr], [[r["english"] for r in tr]]).score, 2)
        out["by_voice"][voice] = v
    return out


def summarize(rows, english_rows) -> dict:
    out = {"turns": len(rows), "speech_seconds": round(sum(r["duration"] for r in rows), 1),
           "language_id": _lid_summary(rows)}
    if rows and "prefix" in rows[0]:
        out["language_id_prefix"] = {}
        for p in PREFIXES:
            sub = [dict(r, detect=r["prefix"][str(p)]) for r in rows if str(p) in r.get("prefix", {})]
            if sub:
                s = _lid_summary(sub)
                out["language_id_prefix"][str(p)] = {k: s[k] for k in ("all", "restricted_to_candidates",
                                                                       "by_language", "wrong_call_prob",
                                                                       "right_call_prob", "threshold_sweep")}
    if rows and "transcript" in rows[0]:
        out.update(_text_summary(rows))
    if english_rows:
        s = _lid_summary(english_rows)
        out["english_rendering"] = {"turns": len(english_rows),
                                    "language_id": {k: s[k] for k in ("all", "restricted_to_candidates", "by_bucket",
                                                                      "wrong_call_prob", "wrong_calls_as",
                                                                      "threshold_sweep")}}
        if "transcript" in english_rows[0]:
            out["english_rendering"].update(_text_summary(english_rows))
    return out


def _fmt(a: dict | None) -> str:
    return "-" if not a or not a["n"] else f"{a['accuracy'] * 100:5.1f}% ({a['correct']}/{a['n']})"


def print_table(name: str, s: dict) -> None:
    li = s["language_id"]
    print(f"\n== {name}: {s['turns']} turns, {s['speech_seconds']} s of speech")
    print(f"{'turn language ID':24} {'all languages':>20} {'among en/es/it':>20}")
    print(f"{'overall':24} {_fmt(li['all']):>20} {_fmt(li['restricted_to_candidates']):>20}")
    for lang, a in li["by_language"].items():
        print(f"{'  ' + lang:24} {_fmt(a['all']):>20} {_fmt(a['restricted']):>20}")
    for b, a in li["by_bucket"].items():
        print(f"{'  ' + b:24} {_fmt(a['all']):>20} {_fmt(a['restricted']):>20}")
    for p, ps in s.get("language_id_prefix", {}).items():
        print(f"{'  first ' + p + ' s':24} {_fmt(ps['all']):>20} {_fmt(ps['restricted_to_candidates']):>20}")
    w, r = li["wrong_call_prob"], li["right_call_prob"]
    if w:
        print(f"wrong calls: {w['n']}, as {li['wrong_calls_as']}; prob median {w['median']}, "
              f"p90 {w['p90']}, max {w['max']}")
    if r:
        print(f"right calls: prob p10 {r['p10']}, p25 {r['p25']}, median {r['median']}, min {r['min']}")
    print("threshold sweep (right kept / wrong kept): " + ", ".join(
        f"{t}: {v['right_kept']}/{v['wrong_kept']}" for t, v in li["threshold_sweep"].items()))
    c = li["cpu_s_per_detection"]
    print(f"detection: CPU s median {c['median']}, p90 {c['p90']}; wall s median "
          f"{li['wall_s_per_detection']['median']}")
    for lang, v in s.get("chrf_translate", {}).items():
        print(f"translate {lang}->en chrF {v['chrf']:.1f} ({v['n']} turns, CPU s median "
              f"{v['translate_cpu_s']['median']})")
    for lang, v in s.get("wer_transcribe", {}).items():
        print(f"transcribe {lang} WER {v['wer'] * 100:.1f}% ({v['n']} turns)")
    for voice, v in s.get("by_voice", {}).items():
        lid = li["by_voice"][voice]
        print(f"  {voice:24} {v['language']}  language ID {_fmt(lid['all'])}, among en/es/it {_fmt(lid['restricted'])}, "
              f"WER {v['wer'] * 100:5.1f}%" + (f", chrF {v['chrf']:.1f}" if "chrf" in v else ""))
    e = s.get("english_rendering")
    if e:
        print(f"English rendering: language ID {_fmt(e['language_id']['all'])}, among en/es/it "
              f"{_fmt(e['language_id']['restricted_to_candidates'])}; wrong as {e['language_id']['wrong_calls_as']}"
              + (f"; WER {e['wer_transcribe']['en']['wer'] * 100:.1f}%" if e.get("wer_transcribe") else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["tuning", "held_out"], choices=["tuning", "held_out"])
    ap.add_argument("--no-text", action="store_true", help="language ID only: no translate/transcribe")
    ap.add_argument("--no-prefix", action="store_true", help="skip the first-0.5/1 s prefix detections")
    ap.add_argument("--no-english", action="store_true", help="skip the all-English renderings")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--resummarize", action="store_true",
                    help="recompute the summaries and the table from the per-turn rows in --out; no model")
    args = ap.parse_args()
    if args.resummarize:
        result = json.loads(args.out.read_text(encoding="utf-8"))
        for name, turns in result["turns"].items():
            rows = [r for r in turns if not r["visit"].endswith("_en")]
            english_rows = [r for r in turns if r["visit"].endswith("_en")]
            s = summarize(rows, english_rows)
            s.update({k: result["sets"][name][k] for k in ("visits", "run_seconds") if k in result["sets"][name]})
            result["sets"][name] = s
            print_table(name, s)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    missing = lv.missing_tools()
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (make system-deps)")
    from faster_whisper import WhisperModel

    path, info = whisper_model("base")
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=args.threads)
    result = {"model": info.name, "model_version": info.version, "compute_type": "int8",
              "cpu_threads": args.threads, "decode": DECODE, "candidates": list(CANDIDATES),
              "generator_version": lv.GENERATOR_VERSION, "sets": {}, "turns": {}}
    if args.out.exists():  # keep the other set's results when running one set
        old = json.loads(args.out.read_text())
        result["sets"].update({k: v for k, v in old.get("sets", {}).items() if k not in args.sets})
        result["turns"].update({k: v for k, v in old.get("turns", {}).items() if k not in args.sets})
    for name in args.sets:
        visits = lv.TUNING if name == "tuning" else lv.HELD_OUT
        t0 = time.perf_counter()
        rows, english_rows = [], []
        for v in visits:
            rows += run_visit(model, v, not args.no_text, not args.no_prefix)
            print(f"  {v.name}: {time.perf_counter() - t0:.0f} s", flush=True)
            if not args.no_english:
                english_rows += run_visit(model, v.in_english(), not args.no_text, False)
        s = summarize(rows, english_rows)
        s["visits"] = [v.name for v in visits]
        s["run_seconds"] = round(time.perf_counter() - t0, 1)
        result["sets"][name] = s
        result["turns"][name] = rows + english_rows
        print_table(name, s)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
