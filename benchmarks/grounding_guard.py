"""The grounding guard measured: its threshold fitted on ACI-BENCH train, its catch rates
reported on valid.

Sentences written by people stand in for sentences written by a model:

- **supported**: each reference note's sentences checked against their own dialogue
  (true, though paraphrased);
- **unsupported**: the same sentences checked against another dialogue (the next one in
  the file), which does not say them;
- **crafted errors**: the embedded drafter's own note sentences (grounded by construction)
  with one fact changed: a number raised by one, a side swapped, a "no" / "Denies"
  dropped. The guard must flag each.

The threshold is the coverage that maximises balanced accuracy between the first two
groups on train (``--split train``); valid is only reported at the threshold the guard
ships with.

    python benchmarks/grounding_guard.py --split train   # fit: prints the best threshold
    python benchmarks/grounding_guard.py --split valid   # report

ACI-BENCH: Yim et al., Nature Scientific Data 2023, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable without installing

from scribe.notes import draft_note  # noqa: E402
from scribe.notes.extractive import ExtractiveDrafter  # noqa: E402
from scribe.notes.guard import GroundingGuard  # noqa: E402
from scribe.notes.templates import load_template  # noqa: E402
from scribe.notes.train import aci_transcript, reference_sentences, with_predicted_roles  # noqa: E402
from scribe.scoring import shared_data  # noqa: E402

DATA = shared_data() / "aci-bench"
RESULTS = Path(__file__).resolve().parent / "results"


def _perturb(text: str) -> list[tuple[str, str]]:
    """(kind, changed sentence) for each error this sentence can carry."""
    out: list[tuple[str, str]] = []
    m = re.search(r"\b\d+\b", text)
    if m:
        out.append(("number", text[: m.start()] + str(int(m.group(0)) + 1) + text[m.end() :]))
    side = re.search(r"\b(left|right)\b", text, re.IGNORECASE)
    if side:
        other = "right" if side.group(1).lower() == "left" else "left"
        out.append(("side", text[: side.start()] + other + text[side.end() :]))
    if text.startswith("Denies "):
        out.append(("negation", "Endorses " + text[len("Denies ") :]))
    neg = re.search(r"\b(?:no|not)\s+", text)
    if neg and not text.startswith("Denies "):
        out.append(("negation", text[: neg.start()] + text[neg.end() :]))
    return out


def measure(rows: list[dict[str, str]], guard: GroundingGuard) -> dict:
    transcripts = [with_predicted_roles(aci_transcript(r["dialogue"])[0]) for r in rows]
    own, other = [], []
    for i, row in enumerate(rows):
        sents = [s for _, s in reference_sentences(row["note"]) if len(s.split()) >= 3]
        for s in sents:
            own.append(guard.check(s, transcripts[i].segments))
            other.append(guard.check(s, transcripts[(i + 1) % len(rows)].segments))
    drafter = ExtractiveDrafter()
    template = load_template("hp")
    crafted: dict[str, list[bool]] = {}
    drafted_supported = []
    for t in transcripts:
        note = draft_note(drafter, t, template)
        for s in note.sentences():
            drafted_supported.append(guard.check(s.text, t.segments).supported)
            for kind, changed in _perturb(s.text):
                crafted.setdefault(kind, []).append(not guard.check(changed, t.segments).supported)
    return {"own": own, "other": other, "crafted": crafted, "drafted_supported": drafted_supported}


def best_threshold(own, other) -> tuple[float, float]:
    best = (0.0, 0.0)
    for step in range(20, 96, 2):
        th = step / 100
        tpr = sum(s.coverage >= th for s in own) / len(own)
        tnr = sum(s.coverage < th for s in other) / len(other)
        bal = (tpr + tnr) / 2
        if bal > best[1]:
            best = (th, bal)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="valid", choices=["train", "valid"])
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    with (args.data / f"{args.split}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    guard = GroundingGuard()
    m = measure(rows, guard)
    own, other = m["own"], m["other"]
    summary = {
        "threshold": guard.threshold,
        "reference_sentences": len(own),
        "own_dialogue_supported": sum(s.supported for s in own) / len(own),
        "other_dialogue_flagged": sum(not s.supported for s in other) / len(other),
        "drafted_sentences": len(m["drafted_supported"]),
        "drafted_supported": sum(m["drafted_supported"]) / max(1, len(m["drafted_supported"])),
        "crafted_errors_flagged": {k: {"n": len(v), "flagged": sum(v) / len(v)} for k, v in m["crafted"].items()},
    }
    if args.split == "train":
        th, bal = best_threshold(own, other)
        summary["best_threshold_by_coverage"] = th
        summary["best_balanced_accuracy"] = bal
    print(json.dumps(summary, indent=2))
    out = RESULTS / f"grounding_guard_{args.split}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
