"""Fit the section model on ACI-BENCH *train* and write it as package data.

    python -m scribe.notes.train --data ../shared/data/aci-bench [--out PATH]

Labels come from the reference notes, not from cue lists. Each dialogue becomes sentences
(``scribe.notes.utterances``) with roles from the role labeller, exactly as at drafting
time. Each reference note is split into its sections (by its upper-case headings,
mapped onto ``KINDS``) and sentences. A dialogue sentence is labelled with the kind of the
reference sentence it shares the most content words with, if it shares at least
``MIN_SHARED`` and at least ``MIN_PRECISION`` of its own content words; otherwise
``"none"``. A multinomial logistic regression (scikit-learn) is then fitted on
``scribe.notes.sections.featurize`` documents.

Deterministic: same data, same scikit-learn, same file (lbfgs with a fixed iteration
cap; no random state is involved). Only ``train.csv`` is read; valid is for reporting.

ACI-BENCH: Yim et al., Nature Scientific Data 2023, CC BY 4.0 (see the data README).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from scribe.notes.restate import tidy
from scribe.notes.sections import KINDS, NONE, LinearModel, SectionModel, featurize
from scribe.notes.utterances import Utterance, utterances
from scribe.speakers.roles import label_roles
from scribe.types import Segment, Transcript

MODEL_VERSION = "1"
# Alignment thresholds, chosen by reading labelled train dialogues: two shared content
# words is the least that makes a match more than chance ("knee pain"), and half the
# sentence's own content words keeps chatter that merely mentions a topic out.
MIN_SHARED = 2
MIN_PRECISION = 0.5
# Regularisation, picked by 5-fold cross-validation on train over {0.3, 1, 3, 10}
# (macro-F1 of the note-worthy kinds); see the README's drafter section.
C = 3.0
C_KIND = 3.0
NGRAMS = (1, 2)
MIN_DF = 2

_TURN = re.compile(r"^\[([a-z_]+)\]\s*(.*)$")
_SECONDS_PER_WORD = 0.4  # plausible segment times only; nothing scores them

_HEADINGS: dict[str, str] = {
    "chief complaint": "chief_complaint",
    "cc": "chief_complaint",
    "reason for visit": "chief_complaint",
    "history of present illness": "hpi",
    "hpi": "hpi",
    "medical history": "history",
    "past medical history": "history",
    "past history": "history",
    "surgical history": "history",
    "past surgical history": "history",
    "social history": "history",
    "family history": "history",
    "review of systems": "ros",
    "medications": "medications",
    "current medications": "medications",
    "allergies": "allergies",
    "physical exam": "exam",
    "physical examination": "exam",
    "exam": "exam",
    "vitals": "exam",
    "vitals reviewed": "exam",
    "results": "results",
    "assessment and plan": "assessment_plan",
    "assessment": "assessment",
    "impression": "assessment",
    "plan": "plan",
    "instructions": "plan",
    "procedure": "plan",
}

_STOP = frozenset(
    """a an the and or but so if then than that this these those there here it its i me my
    you your we our us he she him her his they them their is am are was were be been being
    do does did have has had will would can could should may might must to of in on at by
    for with from about as into up down out over just very really yeah yes no not okay ok
    um uh like know think going get got go lot little bit also too now still some any
    what how when where why which who patient reports states notes""".split()
)


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def content_set(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and (len(w) > 2 or w.isdigit())}


def aci_transcript(dialogue: str) -> tuple[Transcript, list[str]]:
    """An ACI-BENCH dialogue as a Transcript (one segment per turn, speakers named
    A, B, C in order of appearance so the tags never reach the role labeller) and the
    published tag of each segment."""
    segments: list[Segment] = []
    tags: list[str] = []
    names: dict[str, str] = {}
    t = 0.0
    for line in dialogue.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _TURN.match(line)
        if m:
            tag, text = m.group(1), m.group(2)
        elif tags:
            tag, text = tags[-1], line
        else:
            continue
        if not text.strip():
            continue  # an empty turn ("[doctor]" alone) says nothing
        speaker = names.setdefault(tag, "ABCDEFG"[len(names)])
        dur = max(0.5, _SECONDS_PER_WORD * len(text.split()))
        segments.append(Segment(id=f"s{len(segments)}", start=t, end=t + dur, text=text, speaker=speaker))
        tags.append(tag)
        t += dur
    return Transcript(segments=tuple(segments), duration=t, language="en"), tags


def with_predicted_roles(transcript: Transcript) -> Transcript:
    roles = label_roles(transcript.segments)
    return replace(
        transcript,
        segments=tuple(replace(s, role=roles.get(s.speaker, s.role)) for s in transcript.segments),
        speakers=roles,
    )


def _heading(line: str) -> str | None:
    s = line.strip().rstrip(":").strip()
    if not s or len(s) > 40:
        return None
    if s.isupper() or line.strip().endswith(":") and s.lower() in _HEADINGS:
        return _HEADINGS.get(s.lower(), "other")
    return None


def reference_sentences(note: str) -> list[tuple[str, str]]:
    """(kind, sentence) for each sentence of a reference note, in order."""
    out: list[tuple[str, str]] = []
    kind = "hpi"
    first_in_ap = True
    for line in note.splitlines():
        h = _heading(line)
        if h is not None:
            kind = h
            first_in_ap = True
            continue
        text = line.strip(" •-*\t")
        if not text:
            continue
        for sent in re.split(r"(?<=[.?!])\s+", text):
            k = kind
            if kind == "assessment_plan":
                low = sent.lower()
                short = len(sent.split()) <= 8 and not re.search(r"\b(?:will|continue|start|refer|order|follow)\b", low)
                if first_in_ap or low.startswith("medical reasoning") or short:
                    k = "assessment"
                else:
                    k = "plan"
                first_in_ap = False
            if k == "other":
                continue
            out.append((k, sent))
    return out


def label(utts: list[Utterance], note: str) -> list[str]:
    """The kind each utterance feeds in ``note``, or ``"none"``.

    Note-worthy: at least ``MIN_PRECISION`` of the utterance's content words, and at
    least ``min(MIN_SHARED, its content words)`` of them, are in the note. Kind: the
    section whose words cover the most of it (ties to the earlier section).
    """
    bags: dict[str, set[str]] = {}
    for k, s in reference_sentences(note):
        bags.setdefault(k, set()).update(content_set(s))
    everything = set().union(*bags.values()) if bags else set()
    labels: list[str] = []
    for u in utts:
        words = content_set(tidy(u.text))
        shared = len(words & everything)
        if not words or shared < min(MIN_SHARED, len(words)) or shared / len(words) < MIN_PRECISION:
            labels.append(NONE)
            continue
        labels.append(max(bags, key=lambda k: len(words & bags[k])))
    return labels


def examples(rows: Iterable[dict[str, str]]) -> tuple[list[str], list[str], list[int]]:
    """Feature documents, labels and the dialogue index (CV group) of every sentence."""
    docs: list[str] = []
    ys: list[str] = []
    groups: list[int] = []
    for g, row in enumerate(rows):
        transcript, _ = aci_transcript(row["dialogue"])
        utts = utterances(with_predicted_roles(transcript).segments)
        for i, y in enumerate(label(utts, row["note"])):
            docs.append(featurize(utts, i))
            ys.append(y)
            groups.append(g)
    return docs, ys, groups


def _fit_head(docs: list[str], ys: list[str], classes: list[str], c: float) -> LinearModel:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    vec = CountVectorizer(binary=True, token_pattern=r"\S+", ngram_range=NGRAMS, min_df=MIN_DF, lowercase=False)
    x = normalize(vec.fit_transform(docs))
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(x, ys)
    fitted = list(clf.classes_)
    if len(fitted) == 2:
        coef, intercept = clf.coef_, clf.intercept_  # one row: the logit of fitted[1]
        classes = fitted
    else:
        order = [fitted.index(k) for k in classes]
        coef, intercept = clf.coef_[order], clf.intercept_[order]
    return LinearModel(
        classes=tuple(classes),
        vocabulary={w: int(i) for w, i in vec.vocabulary_.items()},
        coef=coef.astype("float32"),
        intercept=intercept.astype("float32"),
        ngram_range=NGRAMS,
        version=MODEL_VERSION,
        trained_on=f"ACI-BENCH train ({len(docs)} sentences)",
    )


def fit(docs: list[str], ys: list[str], *, c: float = C, c_kind: float = C_KIND) -> SectionModel:
    """Both heads from feature documents and their labels (``"none"`` or a kind)."""
    worthy = _fit_head(docs, [NONE if y == NONE else "note" for y in ys], [NONE, "note"], c)
    pos = [(d, y) for d, y in zip(docs, ys) if y != NONE]
    kinds = [k for k in KINDS if any(y == k for _, y in pos)]
    kind = _fit_head([d for d, _ in pos], [y for _, y in pos], kinds, c_kind)
    return SectionModel(worthy=worthy, kind=kind)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fit the drafter's section model on ACI-BENCH train.")
    ap.add_argument("--data", type=Path, required=True, help="folder holding train.csv")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "section_model.json")
    ap.add_argument("-C", type=float, default=C, dest="c")
    args = ap.parse_args(argv)
    path = args.data / "train.csv"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        print(f"error: {path}: cannot read ({e.strerror})", file=sys.stderr)
        return 2
    docs, ys, _ = examples(rows)
    model = fit(docs, ys, c=args.c)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    counts = Counter(ys)
    print(f"{len(rows)} dialogues, {len(docs)} sentences: " + ", ".join(f"{k} {counts[k]}" for k in (NONE, *KINDS)))
    print(f"wrote {args.out} ({len(model.worthy.vocabulary)} + {len(model.kind.vocabulary)} features)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
