"""A bad setup (the data folder, the audit log, the service token's place) is one line
naming the path and the reason, exit code 1, no traceback, refused before any input is
processed; and an empty $SCRIBE_DATA_DIR counts as unset (the config's data_dir applies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from privacy.audit import AuditLog
from privacy.errors import PathError
from tests.conftest import REPO, SAMPLES

TRANSCRIPT = SAMPLES / "cough_visit.txt"


def scribe(*args, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scribe.cli", *map(str, args)], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def one_error(run: subprocess.CompletedProcess, line: str) -> None:
    """Exit 1 and stderr exactly ``line`` (one ``error: ...`` line), no traceback."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.splitlines() == [line], run.stderr
    assert run.returncode == 1, (run.returncode, run.stderr)


@pytest.fixture
def site(tmp_path) -> Path:
    """A data folder with an audit log, its head record and a site key (one draft run)."""
    data = tmp_path / "data"
    run = scribe("draft", TRANSCRIPT, "--out", tmp_path / "first", SCRIBE_DATA_DIR=str(data))
    assert run.returncode == 0, run.stderr
    assert (data / "audit.jsonl").is_file() and (data / "audit.jsonl.head").is_file()
    return data


@pytest.mark.parametrize("name, what", [("audit.jsonl", "the audit log"),
                                        ("audit.jsonl.head", "the audit log's head record")])
def test_a_directory_where_the_audit_log_should_be_is_one_line(site, tmp_path, name, what):
    (site / name).unlink()
    (site / name).mkdir()
    line = f"error: {site / name}: is a directory, not {what}"
    one_error(scribe("audit", "--verify", SCRIBE_DATA_DIR=str(site)), line)
    one_error(scribe("audit", SCRIBE_DATA_DIR=str(site)), line)
    out = tmp_path / "out"
    one_error(scribe("draft", TRANSCRIPT, "--out", out, SCRIBE_DATA_DIR=str(site)), line)
    assert not out.exists() or not list(out.iterdir())  # the audit log refused: nothing published


def test_the_log_refuses_to_record_under_a_directory_head(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", key_path=tmp_path / "site.key", fsync=False)
    log.record("visit_opened", "v-1")
    (tmp_path / "audit.jsonl.head").unlink()
    (tmp_path / "audit.jsonl.head").mkdir()
    with pytest.raises(PathError, match="is a directory, not the audit log's head record"):
        log.record("visit_closed", "v-1")


@pytest.mark.parametrize("command", [
    ("audit", "--verify"), ("audit",), ("purge", "--older-than", "1"), ("recover",),
    ("draft", TRANSCRIPT), ("transcribe", SAMPLES / "cough_visit.wav"), ("serve", "--port", "0"),
])
def test_a_data_dir_that_is_a_file_is_one_line_naming_it(tmp_path, command):
    afile = tmp_path / "afile"
    afile.write_text("")
    out = ("--out", tmp_path / "out") if command[0] in ("draft", "transcribe") else ()
    run = scribe(*command, *out, SCRIBE_DATA_DIR=str(afile))
    one_error(run, f"error: {afile}: the data dir is not a folder")


def test_a_data_dir_under_a_file_is_one_line_naming_both(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    run = scribe("audit", "--verify", SCRIBE_DATA_DIR=str(afile / "data"))
    one_error(run, f"error: {afile / 'data'}: the data dir cannot be made ({afile} is not a folder)")


def test_a_service_token_that_cannot_be_made_is_one_line_naming_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "service").write_text("")  # where the token's folder should be
    run = scribe("serve", "--port", "0", SCRIBE_DATA_DIR=str(data))
    one_error(run, f"error: {data / 'service' / 'token'}: service token file cannot be read (Not a directory)")


def test_an_empty_data_dir_variable_counts_as_unset(tmp_path):
    data = tmp_path / "site-data"
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data}"\n')
    env = {"SCRIBE_CONFIG": str(config), "SCRIBE_DATA_DIR": "", "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(tmp_path / "xdg")}
    run = scribe("draft", TRANSCRIPT, "--out", tmp_path / "out", **env)
    assert run.returncode == 0, run.stderr
    assert (data / "audit.jsonl").is_file() and not (tmp_path / "xdg").exists()
    run = scribe("audit", "--verify", **env)
    assert run.returncode == 0 and run.stdout.startswith(f"{data / 'audit.jsonl'}: intact"), run.stdout + run.stderr


def test_a_config_named_by_scribe_config_that_is_missing_is_one_line(tmp_path):
    # A site pointing at its config and getting defaults instead (privacy mode, data dir)
    # would run on settings nobody chose.
    missing = tmp_path / "site.toml"
    run = scribe("draft", TRANSCRIPT, "--out", tmp_path / "out", SCRIBE_CONFIG=str(missing))
    one_error(run, f"error: {missing}: not found (SCRIBE_CONFIG names it)")
    assert not (tmp_path / "out").exists()


def test_a_link_loop_and_a_broken_link_say_so_not_file_not_found(tmp_path):
    (tmp_path / "loop.wav").symlink_to("loop.wav")
    (tmp_path / "broken.wav").symlink_to(tmp_path / "gone.wav")
    for command in ("transcribe", "draft"):
        run = scribe(command, tmp_path / "loop.wav", tmp_path / "broken.wav", tmp_path / "none.wav",
                     "--out", tmp_path / "out")
        assert "Traceback" not in run.stderr and run.returncode == 2, run.stderr
        assert run.stderr.splitlines() == [
            f"error: {tmp_path / 'loop.wav'}: symbolic link loop",
            f"error: {tmp_path / 'broken.wav'}: broken link (its target does not exist)",
            f"error: {tmp_path / 'none.wav'}: file not found",
            "3 of 3 input(s) failed",
        ], (command, run.stderr)
