"""The learned section model: is a sentence note-worthy, and which section does it feed.

A multinomial logistic regression over binary word and bigram features of the sentence,
plus tokens for who said it, where in the visit, whether it is a question, and the
question it answers. Fitted on ACI-BENCH *train* by ``python -m scribe.notes.train``
(labels from aligning each sentence with the reference note's sentences) and shipped as
``scribe/notes/data/section_model.json``: the vocabulary, the coefficient matrix and the
intercepts, so loading runs no pickled code and prediction is one matrix product.

Kinds (``KINDS``) are the note's clinical sections, independent of any template; a
template maps them onto its own sections (``kinds = [...]`` in the TOML).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from scribe.notes.restate import tidy
from scribe.notes.templates import KINDS
from scribe.notes.utterances import Utterance
from scribe.types import Role

__all__ = ["KINDS", "NONE", "LinearModel", "SectionModel", "featurize", "load_section_model"]

NONE = "none"
MODEL_RESOURCE = "section_model.json"

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def featurize(utts: Sequence[Utterance], index: int) -> str:
    """The feature document of ``utts[index]``: its words, then marker tokens.

    Marker tokens (``__role_patient``, ``__pos_3``, ``__question``, ``q_<word>`` for the
    words of the question a reply answers, ``__len_2``) let one bag-of-words model use
    the context a reader uses.
    """
    u = utts[index]
    words = _WORD.findall(tidy(u.text).lower())
    role = u.role.value if u.role is not Role.UNKNOWN else "unknown"
    toks = [*words, f"__role_{role}", f"__pos_{min(9, int(u.position * 10))}"]
    toks += [f"{role[0]}_{w}" for w in words]  # the same word says more from one role
    toks.append(f"__len_{min(4, len(words) // 6)}")
    if u.is_question:
        toks.append("__question")
    if index > 0:
        prev = utts[index - 1]
        if prev.speaker != u.speaker and prev.is_question:
            toks.append("__answer")
            toks += [f"q_{w}" for w in _WORD.findall(prev.text.lower())]
    if index + 1 < len(utts) and u.is_question:
        nxt = utts[index + 1]
        toks += [f"a_{w}" for w in _WORD.findall(nxt.text.lower())[:4]]
    return " ".join(toks)


@dataclass(frozen=True)
class LinearModel:
    """One fitted logistic regression: ``classes``, ``vocabulary`` (feature names,
    column order of ``coef``), ``coef`` (n_classes x n_features; one row for a binary
    model, scoring ``classes[1]``), ``intercept``, ``ngram_range``, ``version``."""

    classes: tuple[str, ...]
    vocabulary: dict[str, int]
    coef: np.ndarray
    intercept: np.ndarray
    ngram_range: tuple[int, int]
    version: str
    trained_on: str

    @classmethod
    def from_json(cls, data: dict) -> "LinearModel":
        vocab = {w: i for i, w in enumerate(data["vocabulary"])}
        coef = np.asarray(data["coef"], dtype=np.float32)
        rows = 1 if len(data["classes"]) == 2 else len(data["classes"])
        if coef.shape != (rows, len(vocab)):
            raise ValueError(f"section model: coef shape {coef.shape} does not match classes x vocabulary")
        return cls(
            classes=tuple(data["classes"]),
            vocabulary=vocab,
            coef=coef,
            intercept=np.asarray(data["intercept"], dtype=np.float32),
            ngram_range=tuple(data["ngram_range"]),
            version=str(data["version"]),
            trained_on=str(data.get("trained_on", "")),
        )

    def to_json(self) -> dict:
        vocab = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {
            "version": self.version,
            "trained_on": self.trained_on,
            "classes": list(self.classes),
            "ngram_range": list(self.ngram_range),
            "vocabulary": vocab,
            "coef": [[round(float(x), 5) for x in row] for row in self.coef],
            "intercept": [round(float(x), 5) for x in self.intercept],
        }

    def _matrix(self, docs: Sequence[str]) -> np.ndarray:
        # The same analysis as sklearn's CountVectorizer(binary=True, token_pattern=r"\S+",
        # ngram_range=...) followed by l2 normalisation, which is what train.py fits.
        lo, hi = self.ngram_range
        x = np.zeros((len(docs), len(self.vocabulary)), dtype=np.float32)
        for r, doc in enumerate(docs):
            toks = doc.split()
            for n in range(lo, hi + 1):
                for i in range(len(toks) - n + 1):
                    j = self.vocabulary.get(" ".join(toks[i : i + n]))
                    if j is not None:
                        x[r, j] = 1.0
            norm = float(np.sqrt(x[r].sum()))
            if norm:
                x[r] /= norm
        return x

    def predict_proba(self, docs: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(docs), len(classes)), rows summing to 1."""
        if not docs:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        z = self._matrix(docs) @ self.coef.T + self.intercept
        if z.shape[1] == 1:  # binary: sklearn keeps one row, the logit of classes[1]
            z = np.concatenate([np.zeros_like(z), z], axis=1)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SectionModel:
    """The two heads: ``worthy`` (binary: ``"none"`` / ``"note"``, is the sentence
    note-worthy) and ``kind`` (which of ``KINDS`` it feeds, fitted on note-worthy
    sentences only)."""

    worthy: LinearModel
    kind: LinearModel

    @property
    def version(self) -> str:
        return self.kind.version

    @classmethod
    def from_json(cls, data: dict) -> "SectionModel":
        return cls(worthy=LinearModel.from_json(data["worthy"]), kind=LinearModel.from_json(data["kind"]))

    def to_json(self) -> dict:
        return {"worthy": self.worthy.to_json(), "kind": self.kind.to_json()}

    def predict(self, docs: Sequence[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
        """For each document: P(note-worthy), the most likely kind, and all kind
        probabilities (shape (len(docs), len(kind.classes)))."""
        pw = self.worthy.predict_proba(docs)
        pk = self.kind.predict_proba(docs)
        worthy = pw[:, 1] if len(docs) else np.zeros(0, dtype=np.float32)
        kinds = [self.kind.classes[int(i)] for i in pk.argmax(axis=1)] if len(docs) else []
        return worthy, kinds, pk


@lru_cache(maxsize=1)
def load_section_model() -> SectionModel:
    """The shipped model (package data). Raises ``FileNotFoundError`` if the package was
    installed without its data, ``ValueError`` if the file is malformed."""
    text = resources.files("scribe.notes").joinpath("data", MODEL_RESOURCE).read_text(encoding="utf-8")
    return SectionModel.from_json(json.loads(text))
