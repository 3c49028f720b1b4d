"""Clinician voice enrollment: the sealed store, the voiceprint and its refusals, the
roles it gives on real visits (the samples and a visit whose words invert the roles),
and `scribe enroll` as a user runs it (a process: exit codes, one-line errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from privacy.errors import RecordIntegrityError, StoreError
from privacy.voiceprints import VoiceprintStore
from scribe.options import ScribeOptions
from scribe.pipeline import Pipeline
from scribe.speakers.enrolled import ENROLLMENT_TEXT, EnrollmentError, make_voiceprint
from scribe.types import ModelInfo, Role
from tests.audio_tools import write_audio
from tests.service_process import foreground_signals
from tests.test_record import pulse  # noqa: F401  (the virtual microphone fixture)
from tests.enrollment_audio import (
    REPO, SAMPLES, companion_visit, reference_turns, role_time, speak, swapped_visit, two_voices,
)

NAME = "Dr Ada Zyxwvut"  # a name no other byte string in the file could look like


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> dict[str, Path]:
    """The enrollment recordings: the samples' clinician voice (flite rms) reading the
    enrollment text (~25 s), its first 5 s, and two voices taking turns."""
    folder = tmp_path_factory.mktemp("enroll")
    one = speak(ENROLLMENT_TEXT, "rms", folder / "rms.wav")
    short = write_audio(folder / "short.wav", one[: 5 * 16000])
    return {"one": folder / "rms.wav", "short": short, "two": two_voices(folder, ENROLLMENT_TEXT)}


@pytest.fixture(scope="module")
def clinician_print(pipeline, audio) -> np.ndarray:
    from scribe.audio.decode import decode_audio

    return make_voiceprint(pipeline.diarizer, pipeline.detector, decode_audio(audio["one"]), "rms.wav")


# -- the store --------------------------------------------------------------------------


def test_stored_voiceprint_is_sealed_and_delete_leaves_nothing(tmp_path):
    store = VoiceprintStore(tmp_path / "voices", tmp_path / "site.key")
    vector = np.random.default_rng(0).normal(size=256).astype(np.float32)
    voice = store.add(NAME, "resemblyzer-ge2e:0.1.4", vector)
    files = list((tmp_path / "voices").iterdir())
    assert [f.name for f in files] == [f"{voice.id}.voice"]  # no temporary file, no copy
    blob = files[0].read_bytes()
    unit = (vector / np.linalg.norm(vector)).astype("<f4").tobytes()
    assert NAME.encode() not in blob and b"Zyxwvut" not in blob
    assert unit not in blob and unit[:16] not in blob  # not even part of the vector
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    [listed] = store.list()
    assert (listed.id, listed.name, listed.model) == (voice.id, NAME, "resemblyzer-ge2e:0.1.4")
    np.testing.assert_allclose(listed.vector, vector / np.linalg.norm(vector), rtol=1e-6)
    # Sealed to its id: a file renamed to another id fails authentication.
    other = tmp_path / "voices" / "voice-0000abcd.voice"
    other.write_bytes(blob)
    with pytest.raises(RecordIntegrityError):
        store.get("voice-0000abcd")
    other.unlink()
    # Overwritten before it is unlinked: a second name for the same file (a hard link,
    # standing in for a copy the unlink alone would leave readable) holds only zeros.
    os.link(files[0], tmp_path / "second-name")
    store.delete(voice.id)
    assert list((tmp_path / "voices").iterdir()) == []
    assert (tmp_path / "second-name").read_bytes() == bytes(len(blob))
    with pytest.raises(StoreError, match="no such enrolled voice"):
        store.delete(voice.id)
    with pytest.raises(StoreError, match="not a voiceprint id"):
        store.get("../site")


def test_another_site_key_cannot_open_it(tmp_path):
    from privacy.sitekey import load_site_key

    voice = VoiceprintStore(tmp_path / "voices", tmp_path / "a.key").add(NAME, "m:1", np.ones(8))
    load_site_key(tmp_path / "b.key", create=True)
    with pytest.raises(RecordIntegrityError, match="failed authentication"):
        VoiceprintStore(tmp_path / "voices", tmp_path / "b.key").get(voice.id)


def _corrupt(path: Path) -> None:
    """Flip bytes in the middle of a sealed voiceprint (its ciphertext)."""
    blob = bytearray(path.read_bytes())
    for i in range(len(blob) // 2, len(blob) // 2 + 4):
        blob[i] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_one_unreadable_voiceprint_blocks_no_visit(tmp_path, monkeypatch, caplog):
    """A corrupt voiceprint is skipped by the default voice set (one WARNING, its id
    only), refused when named, listed as unreadable by `scribe enroll --list` and deleted
    by `--delete`."""
    import logging

    from scribe.cli.app import clinician_voices
    from scribe.errors import ScribeError
    from scribe.speakers.enrolled import load_voices

    env = {"SCRIBE_DATA_DIR": str(tmp_path / "data")}
    monkeypatch.setenv("SCRIBE_DATA_DIR", env["SCRIBE_DATA_DIR"])
    monkeypatch.delenv("SCRIBE_SITE_KEY", raising=False)
    store = VoiceprintStore()
    good = store.add(NAME, "m:1", np.ones(8))
    bad = store.add("Dr Bad Qwxzy", "m:1", -np.ones(8))
    _corrupt(store.path(bad.id))

    # The default set (transcribe, record, serve, every live visit): the good one, and
    # one WARNING naming the bad id only.
    with caplog.at_level(logging.WARNING, logger="privacy.voiceprints"):
        assert [v.id for v in load_voices(None)] == [good.id]
        assert [v.id for v in clinician_voices(None, "embedding")] == [good.id]
    warnings = [r.getMessage() for r in caplog.records if r.name == "privacy.voiceprints"]
    assert len(warnings) == 2 and all(bad.id in w for w in warnings)  # one per load
    assert not any("Qwxzy" in w or "Zyxwvut" in w for w in warnings)
    # Named: refused in one line that names the id's file and the reason.
    with pytest.raises(ScribeError) as e:
        clinician_voices([bad.id], "embedding")
    assert str(e.value) == f"--clinician: {bad.id}: voiceprint failed authentication (corrupt, or another site key)"
    assert [v.id for v in clinician_voices([good.id], "embedding")] == [good.id]

    listed = _scribe(env, "enroll", "--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"{good.id}  {NAME}  enrolled {good.created}  model m:1",
        f"{bad.id}  unreadable (corrupt, or another site key; delete with --delete {bad.id})",
    ]
    deleted = _scribe(env, "enroll", "--delete", bad.id)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted {bad.id}"
    assert [p.name for p in store.root.iterdir()] == [f"{good.id}.voice"]
    assert [v.id for v in store.list()] == [good.id]


def test_store_errors_are_typed_and_name_no_path(tmp_path):
    from privacy.voiceprints import NoSuchVoice, VoiceNameError

    store = VoiceprintStore(tmp_path / "voices", tmp_path / "site.key")
    with pytest.raises(NoSuchVoice):
        store.get("voice-00000000")
    with pytest.raises(NoSuchVoice):
        store.delete("voice-00000000")
    with pytest.raises(VoiceNameError) as e:
        store.add("x" * 121, "m:1", np.ones(8))
    assert str(e.value) == "clinician name: a voiceprint needs a name of 1 to 120 characters (got 121)"
    with pytest.raises(StoreError) as e:
        store.add(NAME, "m:1", np.zeros(8))
    assert str(tmp_path) not in str(e.value)


def test_voices_a_diarizer_cannot_use_are_refused_or_reported(tmp_path, monkeypatch, caplog):
    """An explicit --clinician with pyannote is refused (one line); the default set with
    pyannote logs once that it is not used; a voiceprint from another encoder is dropped
    with one WARNING naming its id."""
    import logging

    from scribe.cli.app import clinician_voices
    from scribe.errors import ScribeError
    from scribe.speakers.enrolled import known_voices
    from scribe.speakers.pyannote_diarizer import PyannoteDiarizer, PyannoteSession

    monkeypatch.setenv("SCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SCRIBE_SITE_KEY", raising=False)
    store = VoiceprintStore()
    mine = store.add(NAME, "enc:1", np.ones(8))
    other = store.add(NAME, "enc:2", -np.ones(8))
    with pytest.raises(ScribeError) as e:
        clinician_voices([mine.id], "pyannote")
    assert e.value.exit_code == 1
    assert str(e.value) == "--clinician: the pyannote diarizer cannot use enrolled voices (use --diarizer embedding)"
    assert len(clinician_voices(None, "pyannote")) == 2  # the default set: not refused
    (tmp_path / "model").mkdir()
    refused = _scribe({"SCRIBE_DATA_DIR": str(tmp_path / "data")}, "transcribe", REPO / "samples" / "cough_visit.wav",
                      "--out", tmp_path / "out", "--diarizer", "pyannote", "--diarizer-model", tmp_path / "model",
                      "--clinician", mine.id)
    assert refused.returncode == 1
    assert _error_line(refused) == f"error: {str(e.value)}"

    with caplog.at_level(logging.INFO):
        kept = known_voices(store.list(), "enc:1")
        diarizer = object.__new__(PyannoteDiarizer)  # no pipeline needed to open a session
        sessions = [diarizer.session(voices=store.list()) for _ in range(2)]
    assert [k for k, _ in kept] == [mine.id]
    dropped = [r for r in caplog.records if r.name == "scribe.speakers.enrolled"]
    assert [r.levelno for r in dropped] == [logging.WARNING] and other.id in dropped[0].getMessage()
    assert "enc:2" in dropped[0].getMessage() and mine.id not in dropped[0].getMessage()
    unused = [r for r in caplog.records if r.name == "scribe.speakers.pyannote" and "not used" in r.getMessage()]
    assert len(unused) == 1 and mine.id in unused[0].getMessage() and other.id in unused[0].getMessage()
    assert not any("Zyxwvut" in r.getMessage() for r in caplog.records)
    assert all(isinstance(s, PyannoteSession) and s.enrolled == {} for s in sessions)


# -- the voiceprint -----------------------------------------------------------------------


def test_too_little_speech_and_two_voices_are_refused(pipeline, audio):
    from scribe.audio.decode import decode_audio

    with pytest.raises(EnrollmentError, match=r"too little speech to enroll \(\d\.\d s; at least 8 s"):
        make_voiceprint(pipeline.diarizer, pipeline.detector, decode_audio(audio["short"]), "short.wav")
    with pytest.raises(EnrollmentError, match="more than one voice"):
        make_voiceprint(pipeline.diarizer, pipeline.detector, decode_audio(audio["two"]), "two.wav")


def test_voiceprint_matches_its_voice_in_the_samples_and_not_the_other(pipeline, clinician_print):
    """The clinician's windows in aci_d2n_visit are close to the print, the patient's far:
    the measured means (0.90 and 0.64, module doc of scribe.speakers.enrolled) with the
    cluster threshold (0.80) between them."""
    from scribe.audio.decode import decode_audio
    from scribe.speakers.enrolled import CLUSTER_SIMILARITY

    a = decode_audio(REPO / "samples" / "aci_d2n_visit.wav")
    w = pipeline.diarizer.embed(a, pipeline.detector(a))
    turns = reference_turns("aci_d2n_visit")
    centres = w.spans.mean(axis=1)
    role = np.array([next((r for s, e, r in turns if s <= c < e), "") for c in centres])
    sims = w.vectors @ clinician_print
    assert sims[role == "clinician"].mean() > CLUSTER_SIMILARITY + 0.05
    assert sims[role == "patient"].mean() < CLUSTER_SIMILARITY - 0.1


# -- roles on real visits -----------------------------------------------------------------


@pytest.fixture(scope="module")
def enrolled_pipeline(pipeline, clinician_print) -> Pipeline:
    return Pipeline(
        ScribeOptions(), speech_model=pipeline.speech_model, detector=pipeline.detector,
        diarizer=pipeline.diarizer, voices=[("voice-0123abcd", clinician_print)],
    )


# Reference clinician time in segments of another role, measured with enrollment
# (benchmarks/results/enrollment_roles.json): none in cough_visit and knee_followup; in
# aci_d2n_visit 0.0044 (0.8 s: "okay." running 0.08 s past the end of a clinician turn
# and the short turn "...you at?", both given to the patient's speaker by the turn
# boundaries, not by the roles); bound 0.006.
WRONG_BOUND = {"cough_visit": 0.0, "knee_followup": 0.0, "aci_d2n_visit": 0.006}


@pytest.mark.parametrize("uri", SAMPLES)
def test_with_enrollment_the_clinician_speaker_is_the_clinician(enrolled_pipeline, uri):
    """The speaker the enrolled voice matched carries Role.CLINICIAN and is the one that
    speaks the reference clinician turns: every second of reference clinician time in
    that speaker's segments, and at most the boundary words above in another's. The
    voice is echoed by id. Measured: clinician time right 0.970, 0.979, 0.967 (the rest
    is pauses inside turns no segment covers); bound 0.95."""
    result = enrolled_pipeline.process(REPO / "samples" / f"{uri}.wav")
    turns = reference_turns(uri)
    right, wrong = role_time(result.transcript, turns, "clinician")
    assert wrong <= WRONG_BOUND[uri]
    assert right >= 0.95
    p_right, p_wrong = role_time(result.transcript, turns, "patient")
    assert p_wrong == 0.0 and p_right >= 0.93
    assert ModelInfo("enrolled-voice", "voice-0123abcd", "matched") in result.models
    [clinician] = [s for s, r in result.transcript.speakers.items() if r is Role.CLINICIAN]
    # The matched speaker holds most of the reference clinician time.
    held = sum(
        max(0.0, min(e, seg.end) - max(s, seg.start))
        for s, e, r in turns if r == "clinician" for seg in result.transcript.segments if seg.speaker == clinician
    )
    assert held / sum(e - s for s, e, r in turns if r == "clinician") >= 0.95
    assert len(result.annotation.labels()) == 2


def test_the_voice_decides_the_role_before_the_words(pipeline, enrolled_pipeline, tmp_path):
    """The patient asks the questions and the clinician answers in the first person.
    Before issue 14's role cues the words alone labelled every clinician second patient
    (measured 0.0 right); they now get it right, so the voice is shown to come first by
    enrolling the *patient's* voice (flite slt) as a clinician's: her speaker must then
    be the clinician whatever she says. With the real clinician's voice the visit is
    right (measured 0.94 right, 0 wrong)."""
    from scribe.audio.decode import decode_audio

    path, turns = swapped_visit(tmp_path)
    result = enrolled_pipeline.process(path)
    right, wrong = role_time(result.transcript, turns, "clinician")
    assert wrong == 0.0 and right >= 0.9
    assert role_time(result.transcript, turns, "patient")[1] == 0.0

    words_only = pipeline.process(path)
    assert role_time(words_only.transcript, turns, "patient")[0] >= 0.9  # the words say patient
    speak(ENROLLMENT_TEXT, "slt", tmp_path / "slt.wav")
    patient_print = make_voiceprint(pipeline.diarizer, pipeline.detector, decode_audio(tmp_path / "slt.wav"), "slt.wav")
    flipped = Pipeline(
        ScribeOptions(), speech_model=pipeline.speech_model, detector=pipeline.detector,
        diarizer=pipeline.diarizer, voices=[("voice-5171abcd", patient_print)],
    ).process(path)
    as_clinician = sum(
        max(0.0, min(e, seg.end) - max(s, seg.start))
        for s, e, r in turns if r == "patient" for seg in flipped.transcript.segments if seg.role is Role.CLINICIAN
    ) / sum(e - s for s, e, r in turns if r == "patient")
    assert as_clinician >= 0.9, as_clinician


def test_the_known_voice_counts_a_companion_the_clustering_merged(pipeline, enrolled_pipeline, tmp_path):
    """Clinician, patient and her son (flite rms, slt, awb): without enrollment the
    diarizer finds 2 speakers (measured); with the clinician's voice known, the son's
    turns merged into the clinician's speaker are taken out and counted as a third (3
    speakers), the clinician's time is the clinician's and the son is someone else
    (Role.OTHER), not the clinician."""
    path, turns = companion_visit(tmp_path)
    result = enrolled_pipeline.process(path)
    assert len(result.annotation.labels()) == 3
    right, wrong = role_time(result.transcript, turns, "clinician")
    assert wrong == 0.0 and right >= 0.9
    son = [(s, e, r) for s, e, r in turns if r == "other"]
    given_to_clinician = sum(
        max(0.0, min(e, seg.end) - max(s, seg.start))
        for s, e, _ in son for seg in result.transcript.segments if seg.role is Role.CLINICIAN
    )
    # Measured 0.025 of the son's time (0.28 s at a turn edge); without the voice 0.88.
    assert given_to_clinician / sum(e - s for s, e, _ in son) <= 0.05
    right, _ = role_time(result.transcript, turns, "other")
    assert right >= 0.8  # measured 0.85; without the voice 0.0
    # A known speaker count (--speakers 2) is never exceeded for the companion.
    from scribe.audio.decode import decode_audio

    audio = decode_audio(path)
    session = enrolled_pipeline.diarizer.session(2, enrolled_pipeline.voices)
    session.add(session.extract(audio, enrolled_pipeline.detector(audio)))
    assert len(session.finish().labels()) == 2 and list(session.enrolled.values()) == ["voice-0123abcd"]


def test_no_voice_heard_changes_nothing(pipeline, tmp_path):
    """A voice enrolled that is not in the visit (flite awb, measured 0.75 mean cosine
    to rms's windows at most): the visit is as without enrollment."""
    from scribe.audio.decode import decode_audio

    awb = make_voiceprint(pipeline.diarizer, pipeline.detector, speak(ENROLLMENT_TEXT, "awb", tmp_path / "awb.wav"), "awb")
    other = Pipeline(ScribeOptions(), speech_model=pipeline.speech_model, detector=pipeline.detector,
                     diarizer=pipeline.diarizer, voices=[("voice-0000000a", awb)])
    a = decode_audio(REPO / "samples" / "cough_visit.wav")
    session = other.diarizer.session(None, other.voices)
    session.add(session.extract(a, pipeline.detector(a)))
    with_voice = session.finish()
    assert session.enrolled == {}
    plain = pipeline.diarizer.session(None)
    plain.add(plain.extract(a, pipeline.detector(a)))
    assert with_voice == plain.finish()


# -- `scribe enroll` as a process -----------------------------------------------------------


def _scribe(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scribe.cli", *map(str, args)], env={**os.environ, **env},
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_enroll_list_delete_as_a_process(audio, tmp_path):
    env = {"SCRIBE_DATA_DIR": str(tmp_path / "data")}
    done = _scribe(env, "enroll", "--file", audio["one"], "--name", NAME)
    assert done.returncode == 0, done.stderr
    voice_id = done.stdout.split()[1]
    listed = _scribe(env, "enroll", "--list")
    assert listed.returncode == 0
    [line] = listed.stdout.splitlines()
    assert line.startswith(f"{voice_id}  {NAME}  enrolled 20") and line.endswith("model resemblyzer-ge2e:0.1.4")
    voices = tmp_path / "data" / "voices"
    assert [p.name for p in voices.iterdir()] == [f"{voice_id}.voice"]
    assert NAME.encode() not in (voices / f"{voice_id}.voice").read_bytes()

    # Refusals: one line each, the input named, the exit code of its kind.
    missing = _scribe(env, "enroll", "--file", tmp_path / "nope.wav", "--name", NAME)
    assert missing.returncode == 2 and "nope.wav: file not found" in _error_line(missing)
    short = _scribe(env, "enroll", "--file", audio["short"], "--name", NAME)
    assert short.returncode == 2 and "short.wav: too little speech to enroll" in _error_line(short)
    two = _scribe(env, "enroll", "--file", audio["two"], "--name", NAME)
    assert two.returncode == 2 and "two_voices.wav: more than one voice" in _error_line(two)
    unknown = _scribe(env, "enroll", "--delete", "voice-00000000")
    assert unknown.returncode == 1
    assert _error_line(unknown) == "error: voice-00000000: no such enrolled voice (see scribe enroll --list)"
    nameless = _scribe(env, "enroll", "--file", audio["one"])
    assert nameless.returncode == 1 and "--name" in _error_line(nameless)
    assert [p.name for p in voices.iterdir()] == [f"{voice_id}.voice"]  # refusals kept nothing

    # --clinician with an id not enrolled: refused before any model loads.
    bad = _scribe(env, "transcribe", REPO / "samples" / "cough_visit.wav", "--out", tmp_path / "out",
                  "--clinician", "voice-00000000")
    assert bad.returncode == 1
    assert _error_line(bad) == "error: --clinician: voice-00000000: no such enrolled voice (see scribe enroll --list)"

    deleted = _scribe(env, "enroll", "--delete", voice_id)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted {voice_id}"
    assert list(voices.iterdir()) == []
    assert _scribe(env, "enroll", "--list").stdout.strip() == "no voices enrolled"

    # The audit log: both events by id and model, never the name.
    log = (tmp_path / "data" / "audit.jsonl").read_text()
    events = [json.loads(line) for line in log.splitlines()]
    assert [(e["event"], e["visit_id"]) for e in events] == [("voice_enrolled", voice_id), ("voice_deleted", voice_id)]
    assert "Zyxwvut" not in log


def test_transcribe_with_an_enrolled_voice_echoes_its_id(audio, tmp_path):
    """The whole path: enrolled by the CLI, used by default in `scribe transcribe`
    (standard mode, to read the transcript), echoed by id in the outputs."""
    env = {"SCRIBE_DATA_DIR": str(tmp_path / "data")}
    voice_id = _scribe(env, "enroll", "--file", audio["one"], "--name", NAME).stdout.split()[1]
    out = tmp_path / "out"
    proc = _scribe(env, "transcribe", REPO / "samples" / "cough_visit.wav", "--out", out, "--no-privacy")
    assert proc.returncode == 0, proc.stderr
    transcript = json.loads((out / "cough_visit.transcript.json").read_text())
    assert {"kind": "enrolled-voice", "name": voice_id, "version": "matched", "path": None} in transcript["models"]
    assert "Zyxwvut" not in "".join(p.read_text() for p in out.iterdir())


def test_enroll_from_a_virtual_microphone(pulse, audio, tmp_path):  # noqa: F811
    """`scribe enroll` with no file records the microphone (a private PulseAudio daemon's
    virtual one, fed the clinician voice reading the text in real time by paplay)."""
    env = {**pulse, "SCRIBE_DATA_DIR": str(tmp_path / "data")}
    rec = subprocess.Popen(
        [sys.executable, "-m", "scribe.cli", "enroll", "--name", NAME, "--device", "pulse", "--seconds", "26"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=foreground_signals,
    )
    said = []
    for line in rec.stderr:
        said.append(line)
        if line.startswith("Recording 26 s from"):
            break
    assert said and said[-1].startswith("Recording 26 s from"), "".join(said)
    subprocess.run(["paplay", "--latency-msec=20", "--device=v", str(audio["one"])], env=pulse, check=True, timeout=120)
    stdout, stderr = rec.communicate(timeout=300)
    assert rec.returncode == 0, stderr
    voice_id = stdout.split()[1]
    assert [p.name for p in (tmp_path / "data" / "voices").iterdir()] == [f"{voice_id}.voice"]
    assert "Traceback" not in stderr
