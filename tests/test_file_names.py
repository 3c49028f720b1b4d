"""Every file name the operating system accepts works (issue 12 item 12): names with bytes
that are not UTF-8, newlines, bidi overrides, characters Windows refuses, a leading dash.
Each input gets its one printed line, outputs get a safe, readable name, and two inputs
never share one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from privacy.errors import PathError, shown
from scribe.audio.decode import decode_audio
from scribe.batch.runner import MAX_NAME_BYTES, expand_inputs, output_name
from tests.audio_tools import write_audio
from tests.conftest import REPO, SAMPLES


@pytest.mark.parametrize(("stem", "expected"), [
    ("visit", "visit"),
    ("café ü", "café ü"),  # any script stays readable
    ("cafe\u0301", "café"),  # macOS's NFD becomes NFC
    ("caf\udce9", "café"),  # the byte 0xE9 (Latin-1 é), not valid UTF-8
    ("visit\udcff\udcfe", "visitÿþ"),
    ("visit\udc81", "visit_"),  # 0x81 read as Latin-1 is a C1 control
    ("new\nline", "new line"),
    ("tab\t\tname", "tab name"),
    ("\u202eevil", "_evil"),  # a right-to-left override would show the name reversed
    ("zero\u200bwidth", "zero_width"),
    ("esc\x1b[31mred", "esc_[31mred"),
    ('a<b>c:d|e?f*g"h\\i', "a_b_c_d_e_f_g_h_i"),  # refused by Windows and SMB shares
    ("-rf", "rf"),  # not read as an option
    ("..hidden", "hidden"),
    ("trailing. ", "trailing"),
    ("NUL", "NUL_"),
    ("com1.backup", "com1_.backup"),
    ("   ", "visit"),
    ("\x00\x01", "__"),
    ("emoji\U0001F600", "emoji\U0001F600"),
])
def test_output_name(stem, expected):
    assert output_name(stem) == expected


def test_output_name_is_cut_at_a_character_boundary():
    name = output_name("é" * 300)  # 2 bytes each
    assert name == "é" * (MAX_NAME_BYTES // 2)
    assert len(output_name("a" * 300).encode()) == MAX_NAME_BYTES
    assert len(output_name("a" + "€" * 100).encode()) <= MAX_NAME_BYTES  # 3 bytes each: no half character


@pytest.mark.parametrize(("value", "expected"), [
    ("/tmp/visit\udcff.wav", "/tmp/visit\\xff.wav"),
    (b"/tmp/caf\xe9.wav", "/tmp/caf\\xe9.wav"),
    ("new\nline\r.wav", "new\\x0aline\\x0d.wav"),
    ("\u202eevil.wav", "\\u202eevil.wav"),
    ("\u2028sep", "\\u2028sep"),
    ("café ü/日本語.wav", "café ü/日本語.wav"),
])
def test_shown_is_one_printable_line(value, expected):
    assert shown(value) == expected
    assert str(PathError(os.fsdecode(value), "file not found")) == f"{expected}: file not found"


def test_names_that_clash_once_safe_or_on_a_case_blind_disk_get_distinct_outputs(tmp_path):
    for name in ("a:b.wav", "a_b.wav", "Visit.wav", "visit.mp3"):
        (tmp_path / name).write_bytes(b"")
    jobs, failures = expand_inputs([tmp_path])
    assert not failures
    assert sorted(j.uri for j in jobs) == ["Visit", "a_b", "a_b-2", "visit-2"]


ODD = {
    b"caf\xe9 visit.wav": "caf\u00e9 visit",  # Latin-1, not UTF-8
    b"visit\xff\xfe.wav": "visit\u00ff\u00fe",
    b"new\nline.wav": "new line",
    "\u202eevil.wav".encode(): "_evil",
    b'a<b>:"c|d?.wav': "a_b___c_d_",
    b"-rf.wav": "rf",
}


def test_odd_file_names_each_get_one_line_and_safe_outputs(tmp_path):
    """Through the real command, in a real process (whose stdout is strict UTF-8): every
    odd name is transcribed, printed on exactly one line, and written under its safe name."""
    clip = tmp_path / "clip.wav"
    write_audio(clip, decode_audio(SAMPLES / "cough_visit.wav")[: 12 * 16000])
    folder = tmp_path / "in"
    folder.mkdir()
    for raw in ODD:
        with open(os.fsencode(folder) + b"/" + raw, "wb") as f:
            f.write(clip.read_bytes())
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "scribe.cli", "-v", "transcribe", str(folder), "--out", str(out)],
        cwd=REPO, capture_output=True, timeout=900,
    )
    stderr = proc.stderr.decode("utf-8")  # strict: every byte printed is UTF-8
    stdout = proc.stdout.decode("utf-8")
    assert proc.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    lines = stdout.splitlines()
    assert len(lines) == len(ODD), lines  # no name broke its line
    for raw in ODD:
        shown_name = shown(os.fsdecode(os.fsencode(folder) + b"/" + raw))
        assert sum(line.startswith(f"{shown_name}: ") for line in lines) == 1, (shown_name, lines)
    names = {p.name for p in out.iterdir()}
    for stem in ODD.values():
        assert {f"{stem}.note.md", f"{stem}.note.json", f"{stem}.fhir.json"} <= names
    assert {n.split(".")[0] for n in names} == set(ODD.values())  # nothing under another name
    for stem in ODD.values():
        assert (out / f"{stem}.note.md").read_text(encoding="utf-8").strip()
    # The log (-v) too: one record per line, no raw control character from a name.
    for line in stderr.splitlines():
        assert not any(c in line for c in "\u202e\r\x1b"), line


def test_a_missing_file_with_an_odd_name_is_one_line(tmp_path):
    missing = os.fsencode(tmp_path) + b"/gone\xff\nx.wav"
    proc = subprocess.run([sys.executable, "-m", "scribe.cli", "transcribe", missing, "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, timeout=300)
    err = proc.stderr.decode("utf-8").splitlines()
    assert proc.returncode == 2
    assert err == [f"error: {tmp_path}/gone\\xff\\x0ax.wav: file not found", "1 of 1 input(s) failed"]
