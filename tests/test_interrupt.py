"""Ctrl+C in the middle of a batch: one line saying how far it got, exit 130, the
finished recording's files intact and nothing of the one in progress (the real CLI as a
process, interrupted with SIGINT as a terminal would)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, SAMPLES


def test_ctrl_c_mid_batch_says_how_far_it_got_and_leaves_nothing_partial(tmp_path):
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "scribe.cli", "transcribe", str(SAMPLES / "cough_visit.wav"),
         str(SAMPLES / "aci_d2n_visit.wav"), "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell's background job ignores SIGINT; a terminal's foreground one does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # The first recording's line: its files are written and it is counted done.
        assert run.stdout.readline().startswith(str(SAMPLES / "cough_visit.wav") + ": ")
        run.send_signal(signal.SIGINT)  # the second, 275 s long, is being processed
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == ["interrupted: 1 of 2 recording(s) done; the one in progress was not written"], err
    assert run.returncode == 130
    assert sorted(p.name for p in out.iterdir()) == [
        "cough_visit.fhir.json", "cough_visit.instructions.fhir.json", "cough_visit.instructions.md",
        "cough_visit.note.json", "cough_visit.note.md",
    ]


def _start(tmp_path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scribe.cli", "transcribe", str(SAMPLES / "cough_visit.wav"),
         str(SAMPLES / "aci_d2n_visit.wav"), "--out", str(tmp_path / "out"), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SCRIBE_DATA_DIR": str(tmp_path / "data")},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _after_first(run: subprocess.Popen, signum: int) -> tuple[str, int]:
    try:
        assert run.stdout.readline().startswith(str(SAMPLES / "cough_visit.wav") + ": ")
        # The second visit opens within milliseconds of the first's line and its 275 s of
        # audio are read into it first; 3 s later it is surely holding them.
        time.sleep(3)
        run.send_signal(signum)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert "Traceback" not in err, err
    return err, run.returncode


def test_sigterm_mid_batch_is_treated_as_ctrl_c(tmp_path):
    # What a service manager or `kill` sends: one line, 128 + 15, and the visit in
    # progress closed through its context (privacy mode: nothing of it left).
    err, code = _after_first(_start(tmp_path), signal.SIGTERM)
    assert err.splitlines() == [
        "interrupted by SIGTERM: 1 of 2 recording(s) done; the one in progress was not written"
    ], err
    assert code == 143
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "cough_visit.fhir.json", "cough_visit.instructions.fhir.json", "cough_visit.instructions.md",
        "cough_visit.note.json", "cough_visit.note.md",
    ]
    data = tmp_path / "data"
    events = [json.loads(line)["event"] for line in (data / "audit.jsonl").read_text().splitlines()]
    assert events.count("visit_opened") == 2 and events[-1] == "visit_discarded", events


def test_ctrl_c_in_standard_mode_names_the_visit_kept_for_recover(tmp_path):
    err, code = _after_first(_start(tmp_path, "--no-privacy"), signal.SIGINT)
    lines = err.splitlines()
    assert len(lines) == 1 and code == 130, err  # the journal's own warning held back without -v
    m = re.fullmatch(r"interrupted: 1 of 2 recording\(s\) done; the one in progress was not written "
                     r"\(its visit ([0-9a-f]{32}) is kept, encrypted: see scribe recover\)", lines[0])
    assert m, err
    recover = subprocess.run([sys.executable, "-m", "scribe.cli", "recover"], cwd=REPO, capture_output=True, text=True,
                             env={**os.environ, "SCRIBE_DATA_DIR": str(tmp_path / "data")}, timeout=120)
    listed = [line.split()[0] for line in recover.stdout.splitlines() if line.strip()]
    assert listed == [m.group(1)], recover.stdout + recover.stderr


def test_ctrl_c_while_models_load_is_one_line(tmp_path):
    run = _start(tmp_path)
    try:
        # The output folder is made (check_writable) just before the models load, which
        # takes seconds (whisper, the speaker and VAD models, the drafter).
        deadline = time.monotonic() + 120
        while not (tmp_path / "out").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert "Traceback" not in err, err
    assert err.splitlines() == ["interrupted before any recording was processed"], err
    assert run.returncode == 130 and out == ""
