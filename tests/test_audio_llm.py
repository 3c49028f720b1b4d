"""The ``audio-llm`` drafter on tiny random audio-language models built at test time
(``tests/audio_llm_models.py``; no network, no downloaded weights): loading through the
Auto classes, one-line load errors, the prompt, real generation on the sample visit's
audio, window planning and merging, the grounding guard on crafted output, zeroed
plaintext, the audio sources, and a privacy-mode batch run of the real command."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from privacy.visit import BufferAudioSource, Visit  # noqa: E402
from scribe.audio.decode import decode_audio  # noqa: E402
from scribe.audio.source import FileAudioSource  # noqa: E402
from scribe.errors import ModelError  # noqa: E402
from scribe.notes import DRAFTERS, draft_note  # noqa: E402
from scribe.notes.llm import LlmDrafter
from scribe.notes.audio_llm import AudioLlmDrafter, AudioLlmParams, ModelLoadError  # noqa: E402
from scribe.notes.audio_windows import plan_windows  # noqa: E402
from scribe.notes.templates import load_template  # noqa: E402
from scribe.options import ScribeOptions  # noqa: E402
from scribe.types import Role, Segment, Transcript  # noqa: E402
from tests.audio_llm_models import BUILDERS, build_whisper  # noqa: E402
from tests.conftest import SAMPLES  # noqa: E402

SOAP = load_template("soap")
PARAMS = AudioLlmParams(max_new_tokens=12)
WAV = SAMPLES / "cough_visit.wav"
# What each family's processor and config say it hears at once (seconds): Whisper's 30 s
# feature window; Phi-4-multimodal's 500 encoder positions x 8 x 10 ms.
LIMITS = {"qwen2_audio": 30.0, "phi4_multimodal": 40.0}
PLACEHOLDERS = {"qwen2_audio": "<|audio_bos|><|AUDIO|><|audio_eos|>", "phi4_multimodal": "<|audio|>"}


def cough_transcript() -> Transcript:
    """``samples/cough_visit.json``: the script the sample was synthesised from (start,
    end, speaker, role, text per line; no ids), as a Transcript with ids s0, s1, ..."""
    data = json.loads((SAMPLES / "cough_visit.json").read_text())
    segments = tuple(
        Segment(f"s{i}", float(s["start"]), float(s["end"]), s["text"], speaker=s["speaker"], role=Role(s["role"]))
        for i, s in enumerate(data["segments"])
    )
    return Transcript(segments, float(data["duration"]), "en", {"clinician": Role.CLINICIAN, "patient": Role.PATIENT})


COUGH = cough_transcript()
KNEE = (
    Segment("s0", 0, 4, "My right knee has been hurting since Monday.", speaker="B", role=Role.PATIENT),
    Segment("s1", 4.5, 6, "Any fever or chills?", speaker="A", role=Role.CLINICIAN),
    Segment("s2", 6.2, 7, "No.", speaker="B", role=Role.PATIENT),
    Segment("s3", 7.5, 11, "There is no swelling, but it is tender on the inside of the knee.", speaker="A",
            role=Role.CLINICIAN),
    Segment("s4", 11.5, 15, "Start meloxicam fifteen milligrams once a day with food.", speaker="A",
            role=Role.CLINICIAN),
)
KNEE_TRANSCRIPT = Transcript(KNEE, 16.0, "en", {"A": Role.CLINICIAN, "B": Role.PATIENT})


class ArraySource:
    """An in-memory AudioSource that keeps every window it yields (to check they were
    zeroed) and zeroes them on exit, as the product's sources do."""

    def __init__(self, samples: np.ndarray):
        self.samples = samples
        self.duration = samples.size / 16000
        self.yielded: list[np.ndarray] = []

    @contextmanager
    def window(self, start: float, end: float):
        w = self.samples[round(start * 16000) : round(end * 16000)].copy()
        self.yielded.append(w)
        try:
            yield w
        finally:
            w.fill(0.0)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def family(request, tmp_path_factory) -> tuple[str, Path]:
    name = request.param
    return name, BUILDERS[name](tmp_path_factory.mktemp("alm") / name)


@pytest.fixture(scope="module")
def qwen(tmp_path_factory) -> Path:
    return BUILDERS["qwen2_audio"](tmp_path_factory.mktemp("alm") / "qwen2-audio")


# -- loading -------------------------------------------------------------------------


def test_registered_and_loaded_through_the_auto_classes(family):
    name, folder = family
    assert "audio-llm" in DRAFTERS.names()
    drafter = DRAFTERS.create(
        "audio-llm", ScribeOptions(drafter="audio-llm", note_model=str(folder), note_device="cpu", note_dtype="auto")
    )
    assert isinstance(drafter, AudioLlmDrafter) and drafter.name == "audio-llm" and drafter.listens
    assert drafter.model.config.model_type == name and drafter.params.dtype == "float32"
    assert type(drafter.model).__name__ == {"qwen2_audio": "Qwen2AudioForConditionalGeneration",
                                            "phi4_multimodal": "Phi4MultimodalForCausalLM"}[name]
    assert drafter.window_limit == pytest.approx(LIMITS[name])
    assert drafter.version.startswith("0.1.0+" + name)


def test_load_errors_are_one_line_with_exit_code_4(tmp_path, qwen):
    from transformers import LlamaConfig, LlamaForCausalLM

    with pytest.raises(ModelLoadError, match="needs --note-model"):
        AudioLlmDrafter.from_options(ScribeOptions(drafter="audio-llm"))
    cases = {}
    cases["missing"] = (tmp_path / "nowhere", "note model folder not found")
    (tmp_path / "empty").mkdir()
    cases["empty"] = (tmp_path / "empty", "no config.json")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "config.json").write_text("{not json at all")
    cases["garbage"] = (garbage, "unsupported model configuration")
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "config.json").write_text('{"model_type": "no-such-architecture"}')
    cases["unknown"] = (unknown, "unsupported model configuration")
    llama = tmp_path / "llama"
    LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(llama)
    cases["llama"] = (llama, "unsupported architecture LlamaForCausalLM for --drafter audio-llm")
    cases["whisper"] = (build_whisper(tmp_path / "whisper"),
                        "unsupported architecture WhisperForConditionalGeneration for --drafter audio-llm")
    no_processor = tmp_path / "no-processor"  # a Qwen2-Audio model without its processor files
    no_processor.mkdir()
    for f in ("config.json", "model.safetensors"):
        (no_processor / f).write_bytes((qwen / f).read_bytes())
    cases["no processor"] = (no_processor, "cannot load the processor")
    damaged = tmp_path / "damaged"  # weights cut short (safetensors raises its own error type)
    damaged.mkdir()
    for f in qwen.iterdir():
        if f.is_file():
            (damaged / f.name).write_bytes(f.read_bytes())
    (damaged / "model.safetensors").write_bytes((qwen / "model.safetensors").read_bytes()[:5000])
    cases["damaged"] = (damaged, "cannot load the model weights")
    for what, (folder, reason) in cases.items():
        with pytest.raises(ModelLoadError) as e:
            AudioLlmDrafter.load(folder)
        message = str(e.value)
        assert isinstance(e.value, ModelError) and e.value.exit_code == 4, what
        assert "\n" not in message and str(folder) in message and reason in message, (what, message)


# -- prompt ----------------------------------------------------------------------------


def test_prompt_carries_sections_segment_ids_and_the_audio(family):
    name, folder = family
    drafter = AudioLlmDrafter.load(folder, PARAMS)
    lines = ["[s3] CLINICIAN: There is no swelling.", "[s4] PATIENT: Good."]
    prompt = drafter.prompt(SOAP, lines)
    for sec in SOAP.sections:
        assert f"{sec.id}: {sec.title}" in prompt
    assert "[s3] CLINICIAN: There is no swelling." in prompt and "[s4] PATIENT: Good." in prompt
    assert "SECTION_ID: sentence [segment ids]" in prompt
    assert prompt.count(PLACEHOLDERS[name]) == 1
    text_only = drafter.prompt(SOAP, lines, audio=False)
    assert drafter.audio_token not in text_only and "[s3] CLINICIAN" in text_only
    # The processor expands the one placeholder to the window's audio tokens.
    seconds = 10
    inputs = drafter.processor(text=prompt, audio=[np.zeros(seconds * 16000, np.float32)], sampling_rate=16000,
                               return_tensors="pt")
    audio_id = drafter._tokenizer.convert_tokens_to_ids(drafter.audio_token)
    n = int((inputs["input_ids"] == audio_id).sum())
    # Qwen2-Audio: 100 frames/s, halved by the encoder's stride and by pooling: 25 per second.
    # Phi-4-multimodal: 100 frames/s, compressed 8x: 12.5 per second.
    assert n == {"qwen2_audio": 25 * seconds, "phi4_multimodal": 125}[name]
    # A processor without a chat template: plain text, the placeholder before the transcript.
    drafter.processor.chat_template = None
    plain = drafter.prompt(SOAP, lines)
    assert plain.count(PLACEHOLDERS[name]) == 1 and plain.index(PLACEHOLDERS[name]) < plain.index("[s3]")
    assert "<|im_start|>" not in plain and "<|assistant|>" not in plain


# -- drafting --------------------------------------------------------------------------


def test_real_generation_on_the_sample_visit(family, monkeypatch, caplog):
    name, folder = family
    drafter = AudioLlmDrafter.load(folder, PARAMS)
    calls: list[tuple[int | None, str]] = []
    real = drafter.generate

    def spy(prompt, audio=None):
        out = real(prompt, audio)
        calls.append((None if audio is None else audio.size, out))
        return out

    monkeypatch.setattr(drafter, "generate", spy)
    source = FileAudioSource(WAV)
    assert source.duration == pytest.approx(79.38, abs=0.01)
    done: list[tuple[int, int]] = []
    note = draft_note(drafter, COUGH, SOAP, audio=source, progress=lambda a, b: done.append((a, b)))
    windows = drafter.windows(COUGH, source)
    assert len(windows) >= 79.38 / LIMITS[name]
    assert done == [(k + 1, len(windows)) for k in range(len(windows))]
    assert [n for n, _ in calls] == [round(w.end * 16000) - round(w.start * 16000) for w in windows]
    assert all(isinstance(out, str) and out for _, out in calls)  # random weights: tokens, not a note
    assert note.drafter == "audio-llm" and note.drafter_version == drafter.version and note.status == "preliminary"
    assert [s.id for s in note.sections] == [s.id for s in SOAP.sections]
    for s in note.sentences():
        assert set(s.evidence) <= COUGH.segment_ids()
    assert note.to_dict()["counts"]["supported"] + note.counts().unsupported == len(note.sentences())
    # Without audio (``scribe draft``): the same model as a text model, and the log says so.
    calls.clear()
    with caplog.at_level(logging.DEBUG, logger="scribe.notes.audio_llm"):
        text_note = draft_note(drafter, COUGH, SOAP)
    assert not calls  # no audio window was drafted
    assert text_note.drafter == "audio-llm" and set().union(*(s.evidence for s in text_note.sentences())) <= COUGH.segment_ids()
    assert any("no audio" in r.getMessage() for r in caplog.records)
    for r in caplog.records:  # metadata only
        assert not any(seg.text[:20] in r.getMessage() for seg in COUGH.segments)


def test_windows_are_cut_in_pauses_within_the_limit_and_cover_the_visit():
    for limit in (30.0, 40.0, 12.0):
        windows = plan_windows(COUGH.segments, 79.38, limit)
        assert windows[0].start == 0.0 and windows[-1].end == pytest.approx(79.38)
        assert all(a.end == b.start for a, b in zip(windows, windows[1:]))
        assert all(0 < w.seconds <= limit + 1e-9 for w in windows)
        for w in windows[:-1]:
            in_speech = any(s.start < w.end < s.end for s in COUGH.segments)
            assert w.at_pause == (not in_speech), (limit, w)
            if in_speech:  # only when no pause lies in the window's last half (MIN_FILL)
                half = w.start + limit / 2
                assert all(any(s.start <= t <= s.end for s in COUGH.segments) for t in np.arange(half, w.end, 0.05))
        if limit >= 30:  # the families' limits: every cut in a pause, so no line is cut in two
            assert all(w.at_pause for w in windows)
            covered = [sid for w in windows for sid in w.segment_ids]
            assert set(covered) == COUGH.segment_ids() and len(covered) == len(COUGH.segments)
        for w in windows:
            assert w.segment_ids == tuple(s.id for s in COUGH.segments if s.start < w.end and s.end > w.start)
    # One long turn: cut inside speech at the limit, the line drafted with every window it spans.
    long = (Segment("s0", 1.0, 71.0, "a long story"), Segment("s1", 72.0, 75.0, "and then"))
    windows = plan_windows(long, 80.0, 30.0)
    assert [(w.start, w.end, w.at_pause) for w in windows] == [(0.0, 30.0, False), (30.0, 60.0, False),
                                                               (60.0, 80.0, True)]
    assert [w.segment_ids for w in windows] == [("s0",), ("s0",), ("s0", "s1")]
    assert plan_windows((), 0.0, 30.0) == ()
    with pytest.raises(ValueError):
        plan_windows(long, 80.0, 0.0)


def test_without_audio_the_model_drafts_as_a_text_model_chunked_by_its_context(qwen, monkeypatch):
    drafter = AudioLlmDrafter.load(qwen, PARAMS)
    text = drafter.text_drafter()
    assert text.model is drafter.model and text._context() == 4096  # the text config's positions
    # 80 s of flowing lines: three 30 s audio windows, but one text chunk.
    flowing = Transcript(tuple(Segment(f"s{i}", 4.0 * i, 4.0 * (i + 1), "My knee hurts.", speaker="B")
                               for i in range(20)), 80.0, "en")
    assert len(text.chunks(SOAP, flowing.segments)) == 1
    prompts: list[str] = []

    def fake(self, prompt):
        prompts.append(prompt)
        return "subjective: Knee hurts. [s3]\nplan: Start meloxicam 20 mg daily. [s4]"

    monkeypatch.setattr(LlmDrafter, "generate", fake)
    done: list[tuple[int, int]] = []
    note = draft_note(drafter, flowing, SOAP, progress=lambda a, b: done.append((a, b)))
    assert len(prompts) == 1 and all(f"[s{i}]" in prompts[0] for i in range(20))
    assert done == [(1, 1)]
    assert note.drafter == "audio-llm"
    flagged = {s.text: s.flags for s in note.sentences() if not s.supported}
    assert flagged == {
        "Start meloxicam 20 mg daily.": ("coverage 0.00 below 0.38", "number 20 not said", "drug meloxicam not named")
    }
    assert [s.text for s in note.sentences() if s.supported] == ["Knee hurts."]


def test_windows_merged_in_section_order_without_duplicates(qwen, monkeypatch):
    drafter = AudioLlmDrafter.load(qwen, AudioLlmParams(max_new_tokens=4, window_seconds=12.0))
    outputs = iter([
        "plan: Start meloxicam 15 mg daily with food. [s4]\nsubjective: Right knee pain since Monday. [s0]",
        "subjective: Right knee pain since Monday. [s0]\nsubjective: Denies fever or chills. [s1, s2]",
    ])
    monkeypatch.setattr(drafter, "generate", lambda prompt, audio=None: next(outputs))
    source = ArraySource(np.full(16 * 16000, 0.1, np.float32))
    assert len(drafter.windows(KNEE_TRANSCRIPT, source)) == 2
    note = drafter.draft(KNEE_TRANSCRIPT, SOAP, audio=source)
    by = {sec.id: [s.text for s in sec.sentences] for sec in note.sections}
    assert by["subjective"] == ["Right knee pain since Monday.", "Denies fever or chills."]
    assert by["plan"] == ["Start meloxicam 15 mg daily with food."]
    assert [sec.id for sec in note.sections] == [s.id for s in SOAP.sections]


CRAFTED = """\
subjective: Right knee pain since Monday. [s0]
subjective: Denies fever or chills. [s1, s2, s99]
objective: There is swelling of the knee. [s3]
plan: Start meloxicam 20 mg daily with food. [s4]
plan: Start meloxicam 15 mg daily with food. [s4]
assessment: Left knee pain since Monday. [s0]
"""


def test_crafted_output_is_guarded(qwen, monkeypatch):
    drafter = AudioLlmDrafter.load(qwen, PARAMS)
    monkeypatch.setattr(drafter, "generate", lambda prompt, audio=None: CRAFTED)
    note = draft_note(drafter, KNEE_TRANSCRIPT, SOAP, audio=ArraySource(np.full(16 * 16000, 0.1, np.float32)))
    flagged = {s.text: s.flags for s in note.sentences() if not s.supported}
    assert flagged == {
        "Start meloxicam 20 mg daily with food.": ("number 20 not said",),  # a made-up dose
        "Left knee pain since Monday.": ("side left not said",),  # a swapped side
        "There is swelling of the knee.": ("drops the no on swell",),  # a dropped "no"
    }
    supported = {s.text: s.evidence for s in note.sentences() if s.supported}
    assert supported["Right knee pain since Monday."] == ("s0",)
    assert set(supported["Denies fever or chills."]) >= {"s1", "s2"} and "s99" not in supported["Denies fever or chills."]
    assert supported["Start meloxicam 15 mg daily with food."] == ("s4",)
    assert note.counts().unsupported == 3 and note.to_dict()["counts"]["unsupported"] == 3


# -- plaintext and sources ------------------------------------------------------------


def test_window_plaintext_and_features_are_zeroed_after_use(qwen, monkeypatch):
    import torch

    drafter = AudioLlmDrafter.load(qwen, PARAMS)
    fed: list[torch.Tensor] = []
    real = drafter.model.generate

    def spy(**inputs):
        fed.extend(v for v in inputs.values() if torch.is_tensor(v) and v.is_floating_point())
        assert all(bool(v.abs().sum() > 0) for v in fed[-1:])  # the model saw real features
        return real(**inputs)

    monkeypatch.setattr(drafter.model, "generate", spy)
    rng = np.random.default_rng(0)
    source = ArraySource((rng.standard_normal(round(COUGH.duration * 16000)) * 0.1).astype(np.float32))
    draft_note(drafter, COUGH, SOAP, audio=source)
    assert len(source.yielded) == len(drafter.windows(COUGH, source)) >= 3
    assert fed and len(fed) >= len(source.yielded)
    assert all(not w.any() for w in source.yielded)
    assert all(not bool(t.any()) for t in fed)


def test_visit_audio_source_decrypts_windows_and_zeroes_them():
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(5 * 16000) * 0.1).astype(np.float32)
    with Visit(privacy=True) as visit:
        with visit.keep_audio(audio.copy(), 0.0):
            pass
        source = visit.audio_source()
        assert isinstance(source, BufferAudioSource) and source.duration == pytest.approx(5.0)
        with source.window(1.0, 2.5) as w:
            held = w
            assert np.array_equal(w, audio[16000:40000])
        assert not held.any()
        with source.window(4.0, 9.0) as w:  # clipped to what the buffer holds
            assert w.size == 16000
        visit.drop_audio()
        assert visit.audio_source() is None
    assert Visit(privacy=False).audio_source() is None  # standard mode without a store: nothing in memory


def test_file_audio_source_decodes_the_window_and_zeroes_it():
    whole = decode_audio(WAV)
    source = FileAudioSource(WAV, duration=whole.size / 16000)
    with source.window(61.5, 79.0) as w:
        held = w
        assert np.array_equal(w, whole[round(61.5 * 16000) : 79 * 16000])
    assert not held.any()
    with source.window(79.0, 200.0) as w:
        assert w.size == whole.size - 79 * 16000


def test_pipeline_gives_a_listening_drafter_the_visits_own_audio():
    from scribe.pipeline import NullVisit, _listening_source

    from scribe.audio.decode import probe

    info = probe(WAV)
    with Visit(privacy=True) as visit:
        with visit.keep_audio(np.full(16000, 0.5, np.float32), 0.0):
            pass
        assert isinstance(_listening_source(visit, info, 79.38), BufferAudioSource)
    assert isinstance(_listening_source(NullVisit(), info, 79.38), FileAudioSource)
    assert isinstance(_listening_source(Visit(privacy=False), info, 79.38), FileAudioSource)


# -- the real command ------------------------------------------------------------------


def test_privacy_batch_run_writes_only_the_note(tmp_path, qwen):
    from tests.test_privacy_mode import Site, _needles, assert_nothing_retained, canary_recording

    site = Site(tmp_path / "site")
    recording = tmp_path / "visit.wav"
    pattern = canary_recording(recording)
    r = site.run("transcribe", str(recording), "--drafter", "audio-llm", "--note-model", str(qwen),
                 "--out", str(site.out), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    exported = {p.name for p in site.out.iterdir()}
    assert exported == {"visit.note.md", "visit.note.json", "visit.fhir.json"}  # the model writes no instructions
    note = json.loads((site.out / "visit.note.json").read_text())
    assert note["drafter"]["name"] == "audio-llm" and "qwen2_audio" in note["drafter"]["version"]
    assert set(note["counts"]) == {"supported", "unsupported", "omissions"}
    assert note["counts"]["omissions"] > 0  # the transcript was heard; a random model carries none of it
    assert len(site.keys()) == 1
    assert_nothing_retained(site, _needles(site, pattern), r.stdout + r.stderr, exported)
