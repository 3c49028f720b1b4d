"""The ``llm`` drafter on tiny random causal LMs built at test time (no network, no
downloaded weights): loading from a folder, the one-line load errors, prompting with
segment ids (chat template and plain), generation into a valid note, parsing and the
guard on crafted output, and chunking a long transcript to fit a small context."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from scribe.errors import ModelError  # noqa: E402
from scribe.notes import DRAFTERS, draft_note  # noqa: E402
from scribe.notes.llm import LlmDrafter, LlmParams, ModelLoadError, parse_output, stop_reason  # noqa: E402
from scribe.notes.templates import load_template  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.types import Role, Segment, Transcript  # noqa: E402
from tests.conftest import REPO  # noqa: E402

VISIT = (
    Segment("s0", 0, 4, "My right knee has been hurting since Monday.", speaker="B", role=Role.PATIENT),
    Segment("s1", 4, 6, "Any fever or chills?", speaker="A", role=Role.CLINICIAN),
    Segment("s2", 6, 7, "No.", speaker="B", role=Role.PATIENT),
    Segment("s3", 7, 11, "There is no swelling, but it is tender on the inside of the knee.", speaker="A",
            role=Role.CLINICIAN),
    Segment("s4", 11, 15, "Start meloxicam fifteen milligrams once a day with food.", speaker="A",
            role=Role.CLINICIAN),
    Segment("s5", 15, 18, "Blood pressure is one thirty over eighty.", speaker="A", role=Role.CLINICIAN),
)
TRANSCRIPT = Transcript(VISIT, 18.0, "en", {"A": Role.CLINICIAN, "B": Role.PATIENT})
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_model(folder: Path, *, chat: bool, max_positions: int = 512, seed: int = 0) -> Path:
    """A tiny random Llama and a word-level tokenizer trained on the visit, saved as a
    transformers folder (config.json, tokenizer files, safetensors)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["[UNK]", "[PAD]", "<s>", "</s>"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [s.text for s in VISIT] + [
        "subjective objective assessment plan CLINICIAN PATIENT Note sections Transcript s0 s1 s2 s3 s4 s5 : [ ] ,",
        "Denies fever or chills. Right knee pain since Monday.",
    ]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>", eos_token="</s>"
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory) -> Path:
    return build_model(tmp_path_factory.mktemp("llm") / "chat", chat=True)


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    return build_model(tmp_path_factory.mktemp("llm") / "plain", chat=False)


SOAP = load_template("soap")
PARAMS = LlmParams(max_new_tokens=24)


def test_registered_and_loaded_from_the_folder(chat_model):
    assert "llm" in DRAFTERS.names()
    drafter = DRAFTERS.create("llm", ScribeOptions(drafter="llm", note_model=str(chat_model)))
    assert isinstance(drafter, LlmDrafter) and drafter.name == "llm"
    assert drafter.tokenizer.chat_template and drafter.model.config.model_type == "llama"
    assert "llama" in drafter.version
    assert ScribeOptions(note_model=str(chat_model)).to_dict()["note_model"] == str(chat_model)


def test_load_errors_are_one_line_with_exit_code_4(tmp_path):
    with pytest.raises(ModelLoadError, match="needs --note-model"):
        LlmDrafter.from_options(ScribeOptions(drafter="llm"))
    with pytest.raises(ModelLoadError, match="not found") as e:
        LlmDrafter.load(tmp_path / "nowhere")
    assert isinstance(e.value, ModelError) and e.value.exit_code == 4 and "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        LlmDrafter.load(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(ModelLoadError, match="unsupported") as e:
        LlmDrafter.load(bad)
    assert "\n" not in str(e.value)


def test_damaged_weights_are_one_line_through_the_cli(tmp_path, plain_model):
    # A weights file cut short: safetensors raises its own error type (found by a tester,
    # as a 56-line traceback).
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for f in plain_model.iterdir():
        if f.is_file():
            (damaged / f.name).write_bytes(f.read_bytes())
    (damaged / "model.safetensors").write_bytes((plain_model / "model.safetensors").read_bytes()[:5000])
    visit = tmp_path / "visit.txt"
    visit.write_text("Dr Lee: Any fever?\nMaria: No fever.\n")
    run = subprocess.run(
        [sys.executable, "-m", "scribe.cli", "draft", str(visit), "--drafter", "llm", "--note-model", str(damaged),
         "--out", str(tmp_path / "out")],
        cwd=REPO, env=dict(os.environ, SCRIBE_DATA_DIR=str(tmp_path / "data")), capture_output=True, text=True,
        timeout=300,
    )
    assert run.returncode == 4, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {damaged}: cannot load the model weights"), lines
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_model_folder_through_the_cli(tmp_path):
    visit = tmp_path / "visit.txt"
    visit.write_text("Dr Lee: Any fever?\nMaria: No fever.\n")
    missing = tmp_path / "no-model"
    env = dict(os.environ, SCRIBE_DATA_DIR=str(tmp_path / "data"))
    run = subprocess.run(
        [sys.executable, "-m", "scribe.cli", "draft", str(visit), "--drafter", "llm", "--note-model", str(missing),
         "--out", str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 4, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines == [f"error: {missing}: note model folder not found"]


@pytest.mark.parametrize("fixture", ["chat_model", "plain_model"])
def test_prompt_carries_segment_ids_and_sections(fixture, request):
    drafter = LlmDrafter.load(request.getfixturevalue(fixture), PARAMS)
    (lines,) = drafter.chunks(SOAP, VISIT)
    prompt = drafter.prompt(SOAP, lines)
    assert "[s3] CLINICIAN: There is no swelling" in prompt and "[s0] PATIENT: My right knee" in prompt
    for sec in SOAP.sections:
        assert (f"{sec.id}: {sec.title}" if fixture == "chat_model" else f"{sec.id} ({sec.title})") in prompt
    assert "SECTION_ID: sentence" in prompt
    if fixture == "chat_model":
        assert prompt.startswith("<|system|>") and prompt.rstrip().endswith("<|assistant|>")
        assert "[e1]" not in prompt  # the worked example is for base models only
    else:
        assert "<|" not in prompt and prompt.rstrip().endswith("Note:")
        # one worked example before the visit, its ids not the visit's
        assert prompt.index("[e1] PATIENT:") < prompt.index("[s0] PATIENT:")
        assert "subjective: Itchy rash on the left forearm for three days. [e1]" in prompt
        assert "plan: Hydrocortisone 1% cream twice a day. [e2]" in prompt
        assert next(line for line in prompt.splitlines() if line.startswith("[s")).startswith("[s0] PATIENT")


@pytest.mark.parametrize("fixture", ["chat_model", "plain_model"])
def test_generation_gives_a_valid_note(fixture, request):
    drafter = LlmDrafter.load(request.getfixturevalue(fixture), PARAMS)
    out = drafter.generate(drafter.prompt(SOAP, drafter.chunks(SOAP, VISIT)[0]))
    assert isinstance(out, str) and out.strip()  # random weights: words, not a note
    note = draft_note(drafter, TRANSCRIPT, SOAP)
    assert note.drafter == "llm" and note.status == "preliminary" and note.instructions == ()
    assert [s.id for s in note.sections] == [s.id for s in SOAP.sections]
    assert [s.empty_text for s in note.sections] == [s.empty_text for s in SOAP.sections]
    ids = TRANSCRIPT.segment_ids()
    for s in note.sentences():
        assert set(s.evidence) <= ids
    counts = note.counts()
    assert counts.supported + counts.unsupported == len(note.sentences())


CRAFTED = """\
Here is the note.
subjective: Right knee pain since Monday. [s0]
subjective: Denies fever or chills. [s1, s2, s99]
objective: No swelling; tender on the inside of the knee. [s3]
objective: There is swelling of the knee. [s3]
plan: Start meloxicam 20 mg daily with food. [s4]
plan: Start meloxicam 15 mg daily with food. [s4]
assessment: Left knee pain since Monday. [s0]
history: Smokes a pack a day. [s2]
plan: Start meloxicam 15 mg daily with food. [s4]
"""


def test_parse_ignores_unknown_sections_and_ids():
    parsed = parse_output(CRAFTED, SOAP, TRANSCRIPT.segment_ids())
    assert ("subjective", "Denies fever or chills.", ("s1", "s2")) in parsed
    assert not any("Smokes" in s for _, s, _ in parsed)  # no "history" section in SOAP
    assert not any("Here is" in s for _, s, _ in parsed)
    assert parse_output("- **Plan**: Rest. [s4]\nPLAN : Ice it [s4; s5]", SOAP, {"s4", "s5"}) == [
        ("plan", "Rest.", ("s4",)), ("plan", "Ice it", ("s4", "s5"))
    ]


def test_crafted_output_is_guarded(plain_model, monkeypatch):
    drafter = LlmDrafter.load(plain_model, PARAMS)
    monkeypatch.setattr(drafter, "generate", lambda prompt: CRAFTED)
    note = drafter.draft(TRANSCRIPT, SOAP)
    by = {sec.id: [s.text for s in sec.sentences] for sec in note.sections}
    assert by["subjective"] == ["Right knee pain since Monday.", "Denies fever or chills."]
    flagged = {s.text: s.flags for s in note.sentences() if not s.supported}
    assert flagged == {
        "Start meloxicam 20 mg daily with food.": ("number 20 not said",),  # a made-up dose
        "Left knee pain since Monday.": ("side left not said",),  # a swapped side
        "There is swelling of the knee.": ("drops the no on swell",),  # a dropped "no"
    }
    assert by["plan"].count("Start meloxicam 15 mg daily with food.") == 1  # exact duplicate dropped
    assert note.counts().to_dict() == {"supported": len(note.sentences()) - 3, "unsupported": 3, "omissions": 0}
    assert note.supported_only().counts().unsupported == 0
    ids = TRANSCRIPT.segment_ids()
    for s in note.sentences():
        assert set(s.evidence) <= ids
        if s.supported:
            assert s.evidence
    denies = next(s for s in note.sentences() if s.text == "Denies fever or chills.")
    assert denies.evidence == ("s1", "s2")  # guard's evidence; s99 dropped


def test_long_transcript_is_chunked_and_merged(tmp_path, monkeypatch):
    folder = build_model(tmp_path / "small", chat=False, max_positions=160)
    drafter = LlmDrafter.load(folder, LlmParams(max_new_tokens=16))
    segments = tuple(
        Segment(f"s{i}", i, i + 1, VISIT[i % len(VISIT)].text, speaker=VISIT[i % len(VISIT)].speaker,
                role=VISIT[i % len(VISIT)].role)
        for i in range(60)
    )
    long = Transcript(segments, 60.0, "en", TRANSCRIPT.speakers)
    chunks = drafter.chunks(SOAP, segments)
    assert len(chunks) > 1
    assert [line for c in chunks for line in c] == [f"[{s.id}] {s.role.value.upper()}: {s.text}" for s in segments]
    budget = drafter.context_budget()
    for c in chunks:
        assert len(drafter._encode(drafter.prompt(SOAP, c))) <= budget

    # Each chunk's output cites its own first line; the merge keeps chunk order and drops
    # exact repeats.
    def fake(prompt):
        first = next(line for line in prompt.splitlines() if line.startswith("[s"))
        sid = first[1:first.index("]")]
        return f"subjective: Right knee pain since Monday. [{sid}]\nplan: Chunk from {sid}. [{sid}]\n"

    monkeypatch.setattr(drafter, "generate", fake)
    note = drafter.draft(long, SOAP)
    by = {sec.id: sec.sentences for sec in note.sections}
    assert [s.text for s in by["subjective"]] == ["Right knee pain since Monday."]
    firsts = [c[0][1:c[0].index("]")] for c in chunks]
    assert [(s.text, s.supported) for s in by["plan"]] == [(f"Chunk from {sid}.", False) for sid in firsts]
    # and real generation runs over every chunk
    monkeypatch.undo()
    note = drafter.draft(long, SOAP)
    assert set().union(*(s.evidence for s in note.sentences())) <= long.segment_ids()


def test_a_single_line_longer_than_the_context_is_split(tmp_path):
    folder = build_model(tmp_path / "tiny", chat=False, max_positions=128)
    drafter = LlmDrafter.load(folder, LlmParams(max_new_tokens=8))
    text = " ".join(VISIT[3].text for _ in range(20))
    segs = (Segment("s0", 0, 60, text, speaker="A", role=Role.CLINICIAN),)
    chunks = drafter.chunks(SOAP, segs)
    assert len(chunks) > 1 and all(c[0].startswith("[s0] CLINICIAN:") for c in chunks)
    assert " ".join(line.split(":", 1)[1].strip() for c in chunks for line in c) == text


def test_generation_stops_at_a_loop_a_blank_line_run_or_off_format():
    params = LlmParams()
    # the loop gemma3-270m wrote on samples/cough_visit (the same words under new ids)
    loop = "".join(f"[s{i}] {'CLINICIAN' if i % 2 else 'PATIENT'}: I'm going to take a look at your lungs.\n"
                   for i in range(14, 17))
    assert stop_reason(loop, params) == "repeated line"
    assert stop_reason("plan: Rest. [s4]\nsubjective: Cough. [s1]\nplan: Rest [s5]\n", params) == "repeated line"
    assert stop_reason("plan: Rest. [s4]\n\n\n", params) == "blank lines"
    assert stop_reason("\n\n\nplan: Rest. [s4]\n\nassessment: Sprain. [s3]\n", params) is None  # leading, single
    transcript = "".join(f"[s{i}] PATIENT: line number {i}\n" for i in range(4))
    assert stop_reason("plan: Rest. [s4]\n" + transcript, params) == "not note lines"
    assert stop_reason("plan: Rest. [s4]\n" + transcript[:-1], params) is None  # the last line is unfinished
    assert stop_reason("Here is the note:\nplan: Rest. [s4]\nTranscript:\n", params) is None


def test_device_and_dtype_come_from_the_options(chat_model):
    import torch

    drafter = LlmDrafter.from_options(
        ScribeOptions(drafter="llm", note_model=str(chat_model), note_device="cpu", note_dtype="bfloat16"))
    assert drafter.model.dtype == torch.bfloat16 and drafter.model.device.type == "cpu"
    assert (drafter.placement.device, drafter.placement.dtype) == ("cpu", "bfloat16")
    note = draft_note(drafter, TRANSCRIPT, SOAP)  # generation runs in bfloat16 too
    assert note.drafter == "llm"
    auto = LlmDrafter.from_options(ScribeOptions(drafter="llm", note_model=str(chat_model)))
    if not torch.cuda.is_available():
        assert auto.model.dtype == torch.float32 and auto.model.device.type == "cpu"  # auto on a CPU machine
        with pytest.raises(ModelLoadError, match="note device cuda asked for, but torch sees no CUDA device"):
            LlmDrafter.from_options(ScribeOptions(drafter="llm", note_model=str(chat_model), note_device="cuda"))
