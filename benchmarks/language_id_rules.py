"""How each speech region's language is decided: the rules of ``LanguageIdParams``
compared on the pipeline's own regions, in one run.

    python benchmarks/language_id_rules.py

Data: tests/language_visits.py's visits (TUNING to choose, HELD_OUT to report). Each
visit's speech regions are the silero detector's with the pipeline's settings; each
region's reference language is that of the script turn it overlaps most. Whisper base
(int8) gives every region its language probabilities once
(``WhisperModel.detect_language`` on at most its first 30 s), and each rule is scored on
the same probabilities: the share of regions (and of region seconds) given their
reference language.

Rules:

- ``own``: each region's most probable language;
- ``own, unsure -> neighbour``: as own, but a region under 0.5 sure takes the language of
  the region before it;
- ``visit set V``: the visit's languages are those some region is at least V sure of;
  each region is decided among them (renormalised), under 0.5 sure among them taking its
  neighbour's (what ``scribe.speech.whisper`` does, V = ``visit_probability``).

Each rule also with the candidates restricted to en, es, it (``--languages``).
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import soundfile as sf  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402

from scribe.audio import VAD_BACKENDS  # noqa: E402
from scribe.models import whisper_model  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from tests import language_visits  # noqa: E402

OUT = REPO / "benchmarks/results/language_id_rules.json"
VISIT_PROBABILITIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def regions(visits) -> list[dict]:
    path, _ = whisper_model("base")
    model = WhisperModel(str(path), device="cpu", compute_type="int8")
    vad = VAD_BACKENDS.create("silero", ScribeOptions())
    rows = []
    for visit in visits:
        wav, ref_path = language_visits.make(visit)
        turns = json.loads(ref_path.read_text(encoding="utf-8"))["segments"]
        audio, _ = sf.read(str(wav), dtype="float32")
        for r in vad(audio):
            best, overlap = None, 0.0
            for t in turns:
                o = min(r.end, t["end"]) - max(r.start, t["start"])
                if o > overlap:
                    best, overlap = t, o
            clip = audio[int(r.start * 16000) : int(min(r.end, r.start + 30) * 16000)]
            _, _, probs = model.detect_language(audio=clip)
            rows.append({"visit": visit.name, "seconds": round(r.duration, 3), "reference": best and best["language"],
                         "probabilities": [(lang, round(p, 4)) for lang, p in probs[:10]]})
    return rows


def score(rows, candidates=(), visit_probability=None, min_probability=0.5, neighbour=True) -> tuple[float, float]:
    right = total = 0
    right_s = total_s = 0.0
    for _, group in itertools.groupby(rows, key=lambda r: r["visit"]):
        group = list(group)
        probs = [{lang: p for lang, p in r["probabilities"] if not candidates or lang in candidates} for r in group]
        if visit_probability is None:
            among = [set(p) for p in probs]
        else:
            sure = {max(p, key=p.get) for p in probs if p and max(p.values()) >= visit_probability}
            if not sure:
                likely: dict[str, float] = {}
                for r, p in zip(group, probs):
                    if p:
                        likely[max(p, key=p.get)] = likely.get(max(p, key=p.get), 0.0) + r["seconds"]
                sure = {max(likely, key=likely.get)}
            among = [sure] * len(group)
        decided = []
        for p, allowed in zip(probs, among):
            kept = {lang: v for lang, v in p.items() if lang in allowed}
            tot = sum(kept.values()) if visit_probability is not None or candidates else 1.0
            if not kept or tot <= 0:
                decided.append(None)
                continue
            top = max(kept, key=kept.get)
            decided.append(top if not neighbour or kept[top] / tot >= min_probability else None)
        last = next((d for d in decided if d), None)
        for r, d in zip(group, decided):
            last = d or last
            if r["reference"] is None:
                continue
            total += 1
            total_s += r["seconds"]
            if last == r["reference"]:
                right += 1
                right_s += r["seconds"]
    return round(right / total, 3), round(right_s / total_s, 3)


def main() -> None:
    results = {}
    for name, visits in (("tuning", language_visits.TUNING), ("held_out", language_visits.HELD_OUT)):
        rows = regions(visits)
        table = {}
        for candidates in ((), ("en", "es", "it")):
            tag = ",".join(candidates) or "any"
            table[f"{tag}: own"] = score(rows, candidates, neighbour=False)
            table[f"{tag}: own, unsure -> neighbour"] = score(rows, candidates)
            for v in VISIT_PROBABILITIES:
                table[f"{tag}: visit set {v}"] = score(rows, candidates, visit_probability=v)
        results[name] = {"regions": len(rows), "regions_under_1s": sum(r["seconds"] < 1 for r in rows),
                         "share_right (regions, seconds)": table}
        print(name, len(rows), "regions")
        for rule, (a, b) in table.items():
            print(f"  {rule:32} {a:.3f} {b:.3f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
