"""Role labelling (clinician / patient / other) scored on dialogues with known roles.

Every dialogue becomes a Transcript with anonymous speaker labels (A, B, C in order of
first appearance, as a diarizer would give), is labelled by the role labeller, and is
scored two ways: the fraction of dialogues whose every speaker gets the right role, and
the fraction of speech words (each word carries its speaker's role) labelled right.

Sets (``SPLIT`` is ``train`` or ``valid`` of ACI-BENCH; fit only on train, report valid):

- ``aci``: the ACI-BENCH dialogues as published, tags [doctor] -> clinician, [patient] ->
  patient, [patient_guest] -> other; the dialogues whose two tags are swapped wholesale in
  the source (``aci_bench_notes.SWAPPED_TAGS``, verified by reading) are scored with the
  tags swapped back.
- ``aci-windows``: those cut into consecutive ``WINDOW``-turn windows (about a minute of
  speech each, as a live transcript has early in a visit): less speech to judge from.
- ``aci-no-clinician-questions``: the same dialogues with every question sentence of the
  clinician dropped (a turn left empty is dropped): the clinician only explains, examines
  and prescribes, so questions asked no longer point at the clinician.
- ``aci-no-clinician-questions-windows``: those cut into windows the same way: the
  clinician has far less speech to outweigh the patient with.
- ``aci-patient-questions``: the real dialogues whose patient asks at least
  ``PATIENT_QUESTIONS`` marked questions (more than usual: the median is 1).
- ``aci-companion``: every third patient turn of five words or more is moved to a third
  speaker and put in the third person ("my knee" -> "her knee"), as a relative speaking
  about the patient; that speaker must come out OTHER, never clinician.
- ``hard``: hand-written visits where the patient or a companion asks the questions and the
  clinician prescribes (``role_dialogues.py``, including issue 14's amoxicillin example),
  each also lower-cased with punctuation stripped as ASR text may come, plus the three
  bundled samples' reference transcripts (samples/*.txt).
- ``hard-heldout``: four more such visits (one with an interpreting daughter), written
  after the cues and weights were fixed; first scored 6/8, after which the interpreter
  visit informed the caregiver rule (see role_dialogues.py).

Also timed: ``label_roles`` on a 15-minute visit (median of 9).

    python benchmarks/roles.py [--out benchmarks/results/roles.json] [--tune]

ACI-BENCH: Yim et al., "ACI-BENCH", Nature Scientific Data 2023, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from role_dialogues import HARD_DIALOGUES, HELDOUT_DIALOGUES  # noqa: E402

from scribe.notes.train import aci_transcript  # noqa: E402
from scribe.scoring import shared_data  # noqa: E402
from scribe.speakers.roles import RoleParams, count_questions, label_roles  # noqa: E402
from scribe.types import Role, Segment  # noqa: E402

DATA = shared_data() / "aci-bench"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RESULTS = Path(__file__).resolve().parent / "results"
TAG_ROLE = {"doctor": Role.CLINICIAN, "patient": Role.PATIENT, "patient_guest": Role.OTHER}
# Same list as benchmarks/aci_bench_notes.py (whole dialogues whose two tags are reversed).
SWAPPED_TAGS = frozenset({"D2N034", "D2N038", "D2N056", "D2N057", "D2N059", "D2N082"})
# "More questions than usual": the median ACI train patient asks 1 marked question, the
# 90th percentile 6 (counted on train); 4 takes the seven train dialogues above the rest.
PATIENT_QUESTIONS = 4

# Turns in a window: about a minute of a visit, what a live transcript holds early on.
WINDOW = 10

Labeller = Callable[[Sequence[Segment]], Mapping[str, Role]]


@dataclass(frozen=True)
class Case:
    """One dialogue to label: anonymous segments and each speaker's right role."""

    set: str
    name: str
    segments: tuple[Segment, ...]
    gold: dict[str, Role]


def _segments(turns: Sequence[tuple[str, str]]) -> tuple[tuple[Segment, ...], dict[str, Role]]:
    """(role tag, text) turns -> segments with speakers A, B, C... and the gold roles."""
    names: dict[str, str] = {}
    segs: list[Segment] = []
    t = 0.0
    for tag, text in turns:
        if not text.strip():
            continue
        spk = names.setdefault(tag, "ABCDEFG"[len(names)])
        d = 0.4 * max(1, len(text.split()))
        segs.append(Segment(id=f"s{len(segs)}", start=t, end=t + d, text=text, speaker=spk))
        t += d
    gold = {spk: Role(tag) if tag in {"clinician", "patient", "other"} else TAG_ROLE[tag] for tag, spk in names.items()}
    return tuple(segs), gold


def _aci_turns(row: dict[str, str]) -> list[tuple[str, str]]:
    transcript, tags = aci_transcript(row["dialogue"])
    swap = {"doctor": "patient", "patient": "doctor"}
    if row["encounter_id"] in SWAPPED_TAGS:
        tags = [swap.get(t, t) for t in tags]
    return [(tag, s.text) for tag, s in zip(tags, transcript.segments)]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s.strip()]


def _is_question(sentence: str) -> bool:
    return "?" in sentence or count_questions(sentence) > 0


_THIRD = {
    "i": "she", "i'm": "she's", "i've": "she's", "i'd": "she'd", "i'll": "she'll", "my": "her",
    "me": "her", "myself": "herself", "am": "is", "mine": "hers",
}


def third_person(text: str) -> str:
    """A patient's sentence as a relative would say it about her ("my knee" -> "her knee")."""
    return re.sub(r"\b(?:i'm|i've|i'd|i'll|i|my|me|myself|am|mine)\b", lambda m: _THIRD[m.group(0).lower()], text, flags=re.I)


def aci_cases(split: str, data: Path = DATA) -> list[Case]:
    with (data / f"{split}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cases: list[Case] = []
    for row in rows:
        turns = _aci_turns(row)
        eid = row["encounter_id"]
        cases.append(Case("aci", eid, *_segments(turns)))
        for w in range(0, len(turns) - WINDOW // 2, WINDOW):
            window = turns[w : w + WINDOW]
            if len({tag for tag, _ in window}) >= 2:
                cases.append(Case("aci-windows", f"{eid}@{w}", *_segments(window)))
        noq = []
        for tag, text in turns:
            if tag == "doctor":
                text = " ".join(s for s in _sentences(text) if not _is_question(s))
            noq.append((tag, text))
        cases.append(Case("aci-no-clinician-questions", eid, *_segments(noq)))
        noq = [(tag, text) for tag, text in noq if text.strip()]
        for w in range(0, len(noq) - WINDOW // 2, WINDOW):
            window = noq[w : w + WINDOW]
            if len({tag for tag, _ in window}) >= 2:
                cases.append(Case("aci-no-clinician-questions-windows", f"{eid}@{w}", *_segments(window)))
        if sum(text.count("?") for tag, text in turns if tag == "patient") >= PATIENT_QUESTIONS:
            cases.append(Case("aci-patient-questions", eid, *_segments(turns)))
        if {t for t, _ in turns} == {"doctor", "patient"}:
            comp, k = [], 0
            for tag, text in turns:
                if tag == "patient" and len(text.split()) >= 5:
                    k += 1
                    if k % 3 == 0:
                        comp.append(("patient_guest", third_person(text)))
                        continue
                comp.append((tag, text))
            cases.append(Case("aci-companion", eid, *_segments(comp)))
    return cases


def _asr_style(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[.,?!;:]", " ", text.lower())).strip()


def sample_turns(path: Path) -> list[tuple[str, str]]:
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tag, _, text = line.partition(":")
        if text.strip():
            turns.append((tag.strip().lower(), text.strip()))
    return turns


def hard_cases() -> list[Case]:
    cases = []
    for name, turns in HARD_DIALOGUES.items():
        cases.append(Case("hard", name, *_segments(turns)))
        cases.append(Case("hard", name + "_asr", *_segments([(t, _asr_style(x)) for t, x in turns])))
    for name, turns in HELDOUT_DIALOGUES.items():
        cases.append(Case("hard-heldout", name, *_segments(turns)))
        cases.append(Case("hard-heldout", name + "_asr", *_segments([(t, _asr_style(x)) for t, x in turns])))
    for path in sorted(SAMPLES.glob("*.txt")):
        cases.append(Case("hard", "sample_" + path.stem, *_segments(sample_turns(path))))
    return cases


def score(cases: Sequence[Case], labeller: Labeller = label_roles) -> dict[str, dict]:
    """Per set: dialogues all right / dialogues, words right / words, and the misses."""
    out: dict[str, dict] = {}
    for case in cases:
        pred = labeller(case.segments)
        s = out.setdefault(case.set, {"dialogues": 0, "dialogues_right": 0, "words": 0, "words_right": 0, "wrong": []})
        s["dialogues"] += 1
        right = all(pred.get(spk) is role for spk, role in case.gold.items())
        s["dialogues_right"] += right
        if not right:
            s["wrong"].append({"name": case.name, "gold": {k: v.value for k, v in case.gold.items()},
                               "predicted": {k: v.value for k, v in pred.items()}})
        for seg in case.segments:
            n = len(seg.text.split())
            s["words"] += n
            s["words_right"] += n * (pred.get(seg.speaker) is case.gold[seg.speaker])
    for s in out.values():
        s["dialogue_accuracy"] = s["dialogues_right"] / s["dialogues"]
        s["word_accuracy"] = s["words_right"] / max(1, s["words"])
    return out


# The grid searched by --tune (train only): each RoleParams weight around its hand-set value.
GRID = {
    "question": (0.5, 1.0, 1.5),
    "neutral_question": (0.0, 0.5, 1.0),
    "patient_question": (0.0, 1.0, 1.5, 2.0, 3.0),
    "content": (0.0, 1.0, 2.0, 3.0),
    "clinician_phrase": (0.5, 1.0, 2.0),
    "patient_phrase": (0.5, 1.0, 1.5),
}

def tune(cases: Sequence[Case]) -> list[tuple[float, dict[str, float]]]:
    """Every GRID point scored on ``cases`` (mean over sets of the dialogue accuracy, the
    word accuracy breaking ties), best first."""
    from scribe.speakers.roles import decide_roles, gather_cues

    base = RoleParams()
    evidence = [(c, gather_cues(c.segments, base)) for c in cases]
    sets = sorted({c.set for c in cases})
    ranked = []
    for values in itertools.product(*GRID.values()):
        point = dict(zip(GRID, values))
        params = replace(base, **point)
        right = dict.fromkeys(sets, 0)
        total = dict.fromkeys(sets, 0)
        words = words_right = 0
        for case, ev in evidence:
            pred = decide_roles(ev, params)
            ok = all(pred.get(spk) is role for spk, role in case.gold.items())
            right[case.set] += ok
            total[case.set] += 1
            for spk, e in ev.items():
                words += e.words
                words_right += e.words * (pred.get(spk) is case.gold.get(spk))
        objective = statistics.fmean(right[s] / total[s] for s in sets) + 1e-3 * words_right / max(1, words)
        ranked.append((objective, point))
    ranked.sort(key=lambda r: -r[0])
    return ranked


def label_seconds(data: Path = DATA, repeats: int = 9) -> dict[str, float | int]:
    """Median wall time of ``label_roles`` on a 15-minute visit (valid dialogues' turns in
    order up to 2250 words: aci_bench_notes.fifteen_minute_visit), after one warm-up. The
    live recorder labels the growing transcript again on every update."""
    from aci_bench_notes import fifteen_minute_visit

    with (data / "valid.csv").open(newline="", encoding="utf-8") as f:
        visit = fifteen_minute_visit(list(csv.DictReader(f)))
    label_roles(visit.segments)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        label_roles(visit.segments)
        times.append(time.perf_counter() - t0)
    return {"segments": len(visit.segments), "median_seconds": statistics.median(times)}


def all_cases(data: Path = DATA) -> dict[str, list[Case]]:
    return {"train": aci_cases("train", data), "valid": aci_cases("valid", data), "hand": hard_cases()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding train.csv and valid.csv")
    ap.add_argument("--out", type=Path, default=RESULTS / "roles.json", help="JSON results file")
    ap.add_argument("--tune", action="store_true", help="grid-search RoleParams weights on train (never valid)")
    args = ap.parse_args(argv)
    if args.tune:
        ranked = tune(aci_cases("train", args.data))
        print(f"current defaults: {[r for r in ranked if all(getattr(RoleParams(), k) == v for k, v in r[1].items())][:1]}")
        for objective, point in ranked[:15]:
            print(f"{objective:.4f} {point}")
        return 0
    results = {split: score(cases) for split, cases in all_cases(args.data).items()}
    print(f"{'split':<6} {'set':<36} {'dialogues':>11} {'dlg acc':>8} {'word acc':>9}")
    for split, sets in results.items():
        for name, s in sets.items():
            print(f"{split:<6} {name:<36} {s['dialogues_right']:>5}/{s['dialogues']:<5} {s['dialogue_accuracy']:>8.3f} {s['word_accuracy']:>9.3f}")
            for w in s["wrong"]:
                print(f"{'':<8}wrong: {w['name']} gold {w['gold']} predicted {w['predicted']}")
    speed = label_seconds(args.data)
    print(f"label_roles on a 15-minute visit ({speed['segments']} segments): {speed['median_seconds'] * 1000:.0f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**results, "speed_15min_visit": speed}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
