"""Faults in what the CLI is given, each as a kind (issue 14): JSON nested too deeply,
links inside a folder that do not resolve, a config that is not a regular UTF-8 file of
sensible size, and a transcript whose malformed fields carry the visit's words (never
echoed). The real CLI as a process, one line per fault, the rest of the batch processed."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import SAMPLES
from tests.test_setup_errors import TRANSCRIPT, one_error, scribe

DEEP = b'{"segments":' + b"[" * 100_000  # the tester's deep.json: Python's parser recurses per level


def drafted(run, path) -> bool:
    return any(line.startswith(f"{path}: text, ") for line in run.stdout.splitlines())


def test_json_nested_too_deeply_is_one_line_and_the_batch_goes_on(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_deep.json").write_bytes(DEEP)
    (folder / "b_deep.transcript.json").write_bytes(b"[" * 100_000)
    (folder / "c_good.txt").write_bytes(TRANSCRIPT.read_bytes())  # after them in the batch's order
    run = scribe("draft", folder, "--out", tmp_path / "out", SCRIBE_DATA_DIR=str(tmp_path / "data"))
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.splitlines() == [
        f"error: {folder / 'a_deep.json'}: not a Scribe transcript (JSON nested too deeply)",
        f"error: {folder / 'b_deep.transcript.json'}: not a Scribe transcript (JSON nested too deeply)",
        "2 of 3 input(s) failed",
    ], run.stderr
    assert run.returncode == 2
    assert drafted(run, folder / "c_good.txt"), run.stdout
    assert (tmp_path / "out" / "c_good.note.md").is_file()


def test_a_deep_note_for_export_is_one_line(tmp_path):
    note = tmp_path / "visit.fhir.json"
    note.write_bytes(b"[" * 100_000)
    run = scribe("export", note, "--fhir-server", "http://127.0.0.1:9/fhir", SCRIBE_DATA_DIR=str(tmp_path / "data"))
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.splitlines() == [f"error: {note}: not a FHIR DocumentReference (JSON nested too deeply)"]
    assert run.returncode == 2


def test_links_in_a_folder_that_do_not_resolve_are_each_a_failed_input(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_loop.vtt").symlink_to("a_loop.vtt")
    (folder / "b_broken.txt").symlink_to(tmp_path / "gone.txt")
    (folder / "c_good.txt").write_bytes(TRANSCRIPT.read_bytes())
    (folder / "d_other.md").symlink_to("d_other.md")  # not an extension draft reads: not listed
    run = scribe("draft", folder, "--out", tmp_path / "out", SCRIBE_DATA_DIR=str(tmp_path / "data"))
    assert run.stderr.splitlines() == [
        f"error: {folder / 'a_loop.vtt'}: symbolic link loop",
        f"error: {folder / 'b_broken.txt'}: broken link (its target does not exist)",
        "2 of 3 input(s) failed",
    ], run.stderr
    assert run.returncode == 2 and drafted(run, folder / "c_good.txt"), run.stdout


def test_a_folder_whose_only_recording_is_a_link_loop_names_it(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "visit.wav").symlink_to("visit.wav")
    (folder / "old.mp3").symlink_to(tmp_path / "gone.mp3")
    run = scribe("transcribe", folder, "--out", tmp_path / "out", SCRIBE_DATA_DIR=str(tmp_path / "data"))
    assert run.stderr.splitlines() == [
        f"error: {folder / 'old.mp3'}: broken link (its target does not exist)",
        f"error: {folder / 'visit.wav'}: symbolic link loop",
        "2 of 2 input(s) failed",
    ], run.stderr
    assert run.returncode == 2


@pytest.mark.parametrize("kind", ["loop", "fifo", "device", "binary", "huge"])
def test_a_config_that_is_not_a_sensible_file_is_one_line(tmp_path, kind):
    config = tmp_path / "config.toml"
    reason = {
        "loop": "symbolic link loop",
        "fifo": "not a regular file",  # opened, it would block forever
        "device": "not a regular file",  # /dev/zero would fill memory
        "binary": "not UTF-8 text",
        "huge": "too large for a config (over 1 MB)",
    }[kind]
    if kind == "loop":
        config.symlink_to(config)
    elif kind == "fifo":
        os.mkfifo(config)
    elif kind == "device":
        config.symlink_to("/dev/zero")
    elif kind == "binary":
        config.write_bytes(b"privacy = true\n# \xff\xfe\x00\x81\n")
    else:
        config.write_text("# a log, not a config\n" * 50_000)  # 1.1 MB
    run = scribe("draft", TRANSCRIPT, "--out", tmp_path / "out", SCRIBE_CONFIG=str(config),
                 SCRIBE_DATA_DIR=str(tmp_path / "data"))
    one_error(run, f"error: {config}: {reason}")


SECRET = "Patient has HIV and takes Biktarvy"


def _leaky_segments() -> dict[str, object]:
    """Transcripts each with one malformed field holding SECRET (or a value naming it)."""
    good = {"id": "s0", "start": 0, "end": 2, "speaker": "A", "text": "My knee hurts."}
    leaks = {
        "start": {**good, "start": SECRET},
        "end": {**good, "end": SECRET},
        "role": {**good, "role": SECRET},
        "speaker": {**good, "speaker": [SECRET]},
        "id": {**good, "id": [SECRET]},
        "text": {**good, "text": {SECRET: 1}},
        "words": {**good, "words": [{"start": 0, "end": 1, "text": "knee", SECRET: 1}]},
        "word_time": {**good, "words": [{"start": SECRET, "end": 1, "text": "knee"}]},
        "key": {**good, "start": None, SECRET: 1},
    }
    docs = {name: {"segments": [good, {**seg, "id": seg["id"] if name == "id" else "s1"}]} for name, seg in leaks.items()}
    docs["twice"] = {"segments": [{**good, "id": SECRET}, {**good, "id": SECRET}]}
    docs["duration"] = {"segments": [good], "duration": SECRET}
    return docs


def test_malformed_fields_are_named_by_position_never_by_their_content(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    docs = _leaky_segments()
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    (folder / "cue.vtt").write_text(f"WEBVTT\n\n{SECRET}\n00:05.000 --> 00:01.000\n<v A>{SECRET}\n")
    (folder / "cue_id.vtt").write_text(f"WEBVTT\n\n{SECRET}\n00:05 --> 00:01\n<v A>x\n")
    for verbose in ((), ("-v",)):
        run = scribe(*verbose, "draft", folder, "--out", tmp_path / "out", SCRIBE_DATA_DIR=str(tmp_path / "data"))
        assert "Traceback" not in run.stderr, run.stderr
        assert SECRET not in run.stderr and "HIV" not in run.stderr, run.stderr
        errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == len(docs) + 2 and run.returncode == 2, run.stderr
    lines = set(errors)
    assert f"error: {folder / 'start.json'}: not a Scribe transcript (segment 1: start is not a number of seconds)" in lines
    assert f"error: {folder / 'twice.json'}: not a Scribe transcript (segment 1: id is the same as segment 0's)" in lines
    assert f"error: {folder / 'cue.vtt'}: not a WebVTT file (cue 1: end before start)" in lines
    assert (f"error: {folder / 'role.json'}: not a Scribe transcript "
            "(segment 1: role is not one of clinician, patient, other, unknown)") in lines


def test_the_tester_cues_are_refused_by_number(tmp_path):
    cues = tmp_path / "cues.vtt"
    cues.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Dr Lee>Take ibuprofen.\n\n"
                    "00:05.000 --> 00:01.000\n<v Pat>My knee hurts.\n")
    run = scribe("draft", cues, SAMPLES / "cough_visit.txt", "--out", tmp_path / "out",
                 SCRIBE_DATA_DIR=str(tmp_path / "data"))
    assert run.stderr.splitlines() == [f"error: {cues}: not a WebVTT file (cue 2: end before start)",
                                       "1 of 2 input(s) failed"], run.stderr
    assert run.returncode == 2


def test_a_reader_failure_nobody_foresaw_is_that_input_s_error_only(tmp_path, monkeypatch):
    from scribe.batch import draft as draft_module
    from scribe.batch.runner import Job
    from scribe.options import ScribeOptions
    from scribe.visits import VisitFactory

    monkeypatch.setenv("SCRIBE_DATA_DIR", str(tmp_path / "data"))
    real = draft_module.read_transcript

    def flaky(path):
        if path.name == "first.txt":
            raise RuntimeError(SECRET)  # a message that may quote the file: never shown
        return real(path)

    monkeypatch.setattr(draft_module, "read_transcript", flaky)
    for name in ("first.txt", "second.txt"):
        (tmp_path / name).write_bytes(TRANSCRIPT.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    outcomes = list(draft_module.run_drafts(
        draft_module.Drafting.from_options(ScribeOptions()),
        [Job(tmp_path / "first.txt", "first"), Job(tmp_path / "second.txt", "second")],
        out=out, visits=VisitFactory.start(True),
    ))
    assert [str(e) for e in outcomes[0].errors] == [f"{tmp_path / 'first.txt'}: could not be read (RuntimeError)"]
    assert outcomes[1].errors == () and outcomes[1].outputs is not None
