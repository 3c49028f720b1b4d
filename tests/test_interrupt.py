"""Ctrl+C in the middle of a batch: one line saying how far it got, exit 130, the
finished recording's files intact and nothing of the one in progress (the real CLI as a
process, interrupted with SIGINT as a terminal would)."""

from __future__ import annotations

import signal
import subprocess
import sys

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
