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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import soundfile as sf  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402

from scribe.audio import VAD_BACKENDS  # noqa: E402
from scribe.models import whisper_model  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.speech import chunks  # noqa: E402
from tests import language_visits  # noqa: E402

OUT = REPO / "benchmarks/results/language_id_rules.json"
VISIT_PROBABILITIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# (pause seconds a region is cut at, None: not cut; features padded to 30 s or not)
SPLITS = ((None, True), (0.2, True), (0.3, True), (None, False), (0.2, False), (0.3, False))
MIN_SECONDS = (1.0, 1.5, 2.0)


def detect(model: WhisperModel, clip, padded: bool) -> list[tuple[str, float]]:
    """Whisper's language probabilities for ``clip``: on its features padded to 30 s as
    Whisper was trained (faster-whisper's ``detect_language``), or on the clip's own
    frames only (``scribe.speech.whisper``: the encoder's cost grows with the frames)."""
    if padded:
        return model.detect_language(audio=clip)[2]
    from scribe.speech.whisper import language_probabilities

    return language_probabilities(model, clip)


def regions(visits, split: float | None = None, padded: bool = True) -> list[dict]:
    """Each VAD region (``split``: cut at pauses of at least that many seconds, as
    ``scribe.speech.chunks.split_at_pauses``) with Whisper's language probabilities and,
    per reference language, the seconds of reference turns it covers."""
    path, _ = whisper_model("base")
    model = WhisperModel(str(path), device="cpu", compute_type="int8")
    vad = VAD_BACKENDS.create("silero", ScribeOptions())
    rows = []
    for visit in visits:
        wav, ref_path = language_visits.make(visit)
        turns = json.loads(ref_path.read_text(encoding="utf-8"))["segments"]
        audio, _ = sf.read(str(wav), dtype="float32")
        pieces = []
        for r in vad(audio):
            if split is None:
                pieces.append(r)
            else:
                chunks.PAUSE_SECONDS = split
                pieces.extend(chunks.split_at_pauses(audio, r, 0.0))
        for r in pieces:
            covers: dict[str, float] = {}
            for t in turns:
                o = min(r.end, t["end"]) - max(r.start, t["start"])
                if o > 0:
                    covers[t["language"]] = covers.get(t["language"], 0.0) + o
            clip = audio[int(r.start * 16000) : int(min(r.end, r.start + 30) * 16000)]
            probs = detect(model, clip, padded)
            rows.append({"visit": visit.name, "seconds": round(r.duration, 3),
                         "reference": max(covers, key=covers.get) if covers else None,
                         "covers": {k: round(v, 3) for k, v in covers.items()},
                         "probabilities": [(lang, round(p, 4)) for lang, p in probs[:10]]})
    return rows


def score(rows, candidates=(), visit_probability=None, min_probability=0.5, neighbour=True,
          min_seconds=0.0) -> tuple[float, float]:
    """(share of regions given their main reference language, share of reference turn
    seconds inside regions given that turn's language)."""
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
        for r, p, allowed in zip(group, probs, among):
            if r["seconds"] < min_seconds:
                decided.append(None)
                continue
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
            right += last == r["reference"]
            total_s += sum(r["covers"].values())
            right_s += r["covers"].get(last, 0.0)
    return round(right / total, 3), round(right_s / total_s, 3)


def main() -> None:
    results = {}
    for name, visits in (("tuning", language_visits.TUNING), ("held_out", language_visits.HELD_OUT)):
        for split, padded in SPLITS:
            t0 = time.process_time()
            rows = regions(visits, split, padded)
            cpu = time.process_time() - t0
            table = {}
            for candidates in ((), ("en", "es", "it")):
                tag = ",".join(candidates) or "any"
                table[f"{tag}: own"] = score(rows, candidates, neighbour=False)
                table[f"{tag}: own, unsure -> neighbour"] = score(rows, candidates)
                for v in VISIT_PROBABILITIES:
                    table[f"{tag}: visit set {v}"] = score(rows, candidates, visit_probability=v)
                for m in MIN_SECONDS:
                    table[f"{tag}: visit set 0.5, under {m} s -> neighbour"] = score(
                        rows, candidates, visit_probability=0.5, min_seconds=m)
            key = (f"{name}, regions " + ("as the VAD gives them" if split is None else f"cut at pauses >= {split} s")
                   + (", padded to 30 s" if padded else ", unpadded"))
            results[key] = {"regions": len(rows), "regions_under_1s": sum(r["seconds"] < 1 for r in rows),
                            "cpu_seconds_per_region": round(cpu / max(len(rows), 1), 3),
                            "share_right (regions, turn seconds)": table}
            print(key, len(rows), "regions", f"{cpu / max(len(rows), 1):.2f} CPU s each", flush=True)
            for rule, (a, b) in table.items():
                print(f"  {rule:44} {a:.3f} {b:.3f}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
