"""The audit log: metadata only, append-only, hash-chained, safe under concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import stat

import pytest

from privacy.audit import GENESIS, AuditError, AuditLog, audit_path, format_table

SHA = "ab" * 32


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "logs" / "audit.jsonl")


def _visit(audit: AuditLog, visit: str = "v-0001") -> None:
    audit.record("visit_opened", visit, privacy=True, template="soap")
    audit.record(
        "visit_processed", visit, audio_seconds=79.5, segments=24, speakers=2,
        asr_model="faster-whisper/tiny.en", vad_model="silero-vad:6.2",
    )
    audit.record("note_drafted", visit, template="soap", processing_seconds=3.2)
    audit.record("note_exported", visit, sha256=SHA, format="fhir", bytes=4120)
    audit.record("visit_closed", visit, duration_seconds=95.0)


def test_records_are_json_lines_in_a_private_file(audit):
    _visit(audit)
    raw = audit.path.read_text()
    lines = raw.splitlines()
    assert raw.endswith("\n") and len(lines) == 5
    entries = [json.loads(line) for line in lines]
    assert [e["event"] for e in entries] == [
        "visit_opened", "visit_processed", "note_drafted", "note_exported", "visit_closed",
    ]
    assert all(e["visit_id"] == "v-0001" and e["time"].endswith("Z") for e in entries)
    assert entries[0]["prev"] == GENESIS
    assert entries[3]["sha256"] == SHA
    assert audit.read() == entries
    assert stat.S_IMODE(audit.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(audit.path.parent.stat().st_mode) == 0o700


def test_record_returns_the_entry_written(audit):
    entry = audit.record("visits_purged", "*", visits=3, reason="retention")
    assert entry == audit.read()[-1]


@pytest.mark.parametrize(
    "event, fields",
    [
        ("visit_opened", {"patient": "Jane Doe"}),  # unknown key
        ("visit_opened", {"note": "ok"}),  # unknown key, harmless value
        ("visit_processed", {"asr_model": "patient reports chest pain"}),  # free text
        ("visit_processed", {"asr_model": "x" * 81}),  # long string
        ("visit_processed", {"template": "a" * 65}),
        ("visit_discarded", {"reason": "patient asked to stop recording"}),
        ("note_exported", {"sha256": "not-a-hash"}),
        ("note_exported", {"sha256": SHA.upper()}),
        ("visit_processed", {"segments": "24"}),  # a count as text
        ("visit_processed", {"segments": True}),
        ("visit_processed", {"audio_seconds": float("nan")}),
        ("visit_processed", {"audio_seconds": -1}),
        ("visit_opened", {"privacy": "yes"}),
        ("visit_opened", {"prev": GENESIS}),  # reserved
        ("transcript_saved", {}),  # unknown event
    ],
)
def test_out_of_schema_records_are_refused(audit, event, fields):
    with pytest.raises(AuditError):
        audit.record(event, "v-0001", **fields)
    assert not audit.path.exists()


def test_visit_id_must_be_an_identifier(audit):
    for bad in ["Jane Doe", "", "v" * 65, "visit\nforged"]:
        with pytest.raises(AuditError):
            audit.record("visit_opened", bad)
    assert issubclass(AuditError, ValueError)


def test_error_message_never_echoes_the_value(audit):
    with pytest.raises(AuditError) as info:
        audit.record("visit_processed", "v-1", asr_model="she has had a cough for a week")
    assert "cough" not in str(info.value)


def test_intact_chain_verifies(audit):
    assert audit.verify() == []  # no file yet
    _visit(audit, "v-1")
    _visit(audit, "v-2")
    assert audit.verify() == []


def test_edited_line_is_detected(audit):
    _visit(audit)
    lines = audit.path.read_text().splitlines()
    lines[1] = lines[1].replace('"segments":24', '"segments":25')
    audit.path.write_text("\n".join(lines) + "\n")
    # The edited line fails its MAC; the next one no longer follows it.
    assert audit.verify() == [
        "line 2: MAC does not match: the line was edited or forged",
        "line 3: hash chain broken (does not follow line 2; a line was edited, removed or inserted)",
    ]


def test_deleted_line_is_detected(audit):
    _visit(audit)
    lines = audit.path.read_text().splitlines()
    del lines[2]
    audit.path.write_text("\n".join(lines) + "\n")
    assert any("line 3" in p for p in audit.verify())


def test_deleted_first_line_is_detected(audit):
    _visit(audit)
    lines = audit.path.read_text().splitlines()
    audit.path.write_text("\n".join(lines[1:]) + "\n")
    assert any("line 1" in p for p in audit.verify())


def test_text_smuggled_into_last_line_is_detected(audit):
    # The chain cannot vouch for the last line; the schema check still does.
    _visit(audit)
    lines = audit.path.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["comment"] = "patient is worried about her mother"
    lines[-1] = json.dumps(entry)
    audit.path.write_text("\n".join(lines) + "\n")
    assert any("schema" in p for p in audit.verify())


def test_torn_last_line_is_reported_and_appending_continues(audit):
    _visit(audit)
    with open(audit.path, "ab") as f:
        f.write(b'{"time":"2024')  # a crash mid-write
    audit.record("visit_recovered", "v-0001", reason="crash")
    problems = audit.verify()
    assert len(problems) == 1 and "line 6" in problems[0]
    assert audit.read()[-1]["event"] == "visit_recovered"


def test_existing_world_readable_log_is_tightened(audit):
    audit.path.parent.mkdir(parents=True)
    audit.path.touch(mode=0o644)
    audit.path.chmod(0o644)
    audit.record("visit_opened", "v-1")
    assert stat.S_IMODE(audit.path.stat().st_mode) == 0o600


def _append_many(path: str, writer: int, count: int, start) -> None:
    start.wait()
    log = AuditLog(path)
    for i in range(count):
        log.record("visit_processed", f"w{writer}-{i}", segments=i, audio_seconds=1.5)


def test_concurrent_processes_produce_an_intact_chain(tmp_path):
    path = str(tmp_path / "audit.jsonl")
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_append_many, args=(path, w, 200, start)) for w in (1, 2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = AuditLog(path)
    assert log.verify() == []
    entries = log.read()
    assert len(entries) == 400
    ids = {e["visit_id"] for e in entries}
    assert ids == {f"w{w}-{i}" for w in (1, 2) for i in range(200)}
    # Both writers really did interleave (otherwise this test proves little).
    writers = [e["visit_id"][:2] for e in entries]
    assert sum(a != b for a, b in zip(writers, writers[1:])) > 1


def test_audit_path_resolution(monkeypatch, tmp_path):
    for var in ("SCRIBE_AUDIT_LOG", "SCRIBE_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert audit_path() == tmp_path / "home" / ".local" / "share" / "scribe" / "audit.jsonl"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert audit_path() == tmp_path / "xdg" / "scribe" / "audit.jsonl"
    monkeypatch.setenv("SCRIBE_DATA_DIR", str(tmp_path / "data"))
    assert audit_path() == tmp_path / "data" / "audit.jsonl"
    monkeypatch.setenv("SCRIBE_AUDIT_LOG", str(tmp_path / "a.jsonl"))
    assert audit_path() == tmp_path / "a.jsonl"
    assert AuditLog().path == tmp_path / "a.jsonl"


def test_format_table(audit):
    _visit(audit)
    table = format_table(audit.read())
    lines = table.splitlines()
    assert lines[0].split() == ["TIME", "EVENT", "VISIT", "DETAILS"]
    assert len(lines) == 6
    assert "note_exported" in lines[4] and SHA[:12] + "..." in lines[4] and SHA not in lines[4]
    assert "privacy=on" in lines[1] and "template=soap" in lines[1]
    assert "warning" not in table
    warned = format_table(audit.read(), ["line 3: hash chain broken"])
    assert warned.splitlines()[-1].startswith("warning: audit log failed verification")
    assert "(no audit entries)" in format_table([])


# -- anchoring: the MAC under the site key and the head record ----------------------------

import hashlib  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from privacy.audit_anchor import head_path, line_mac, mac_key  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _site_log(tmp_path: Path) -> AuditLog:
    """A site of its own: ``data/audit.jsonl`` under ``data/site.key``, two visits (10 lines)."""
    data = tmp_path / "data"
    log = AuditLog(data / "audit.jsonl", key_path=data / "site.key")
    _visit(log, "v-1")
    _visit(log, "v-2")
    return log


def _scribe_audit(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SCRIBE_DATA_DIR": str(data)}
    env.pop("SCRIBE_AUDIT_LOG", None)
    env.pop("SCRIBE_SITE_KEY", None)
    return subprocess.run([sys.executable, "-m", "scribe.cli", "audit", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _rechain(lines: list[str], key: bytes | None) -> list[str]:
    """``lines`` re-chained from the first as a forger would: each ``prev`` recomputed,
    each MAC dropped (``key`` None) or made under ``key`` (not the site's)."""
    out, prev = [], GENESIS
    for line in lines:
        entry = json.loads(line)
        entry.pop("mac", None)
        entry["prev"] = prev
        body = _rechain_one(json.dumps(entry, separators=(",", ":")), key)
        out.append(body)
        prev = hashlib.sha256(body.encode()).hexdigest()
    return out


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines))


def _edit_last(log, lines):
    _write(log, lines[:-1] + [lines[-1].replace('"duration_seconds":95.0', '"duration_seconds":9.0')])


def _delete_last(log, lines):
    _write(log, lines[:-2])


def _truncate(log, lines):
    os.truncate(log.path, sum(len(line) + 1 for line in lines[:3]))


def _empty(log, lines):
    log.path.write_bytes(b"")


def _delete(log, lines):
    log.path.unlink()


def _rewrite_unkeyed(log, lines):
    _write(log, _rechain([lines[0].replace('"privacy":true', '"privacy":false'), *lines[1:]], None))


def _rewrite_other_key(log, lines):
    _write(log, _rechain([lines[0].replace('"privacy":true', '"privacy":false'), *lines[1:]], os.urandom(32)))


def _forged(lines: list[str], key: bytes | None) -> str:
    """A line chained to the last one, MACed under ``key`` (not the site's) or not at all."""
    entry = {"time": "2026-01-01T00:00:00.000Z", "event": "visits_purged", "visit_id": "*", "visits": 9,
             "reason": "retention", "prev": hashlib.sha256(lines[-1].encode()).hexdigest()}
    return _rechain_one(json.dumps(entry, separators=(",", ":")), key)


def _rechain_one(body: str, key: bytes | None) -> str:
    return body if key is None else body[:-1] + f',"mac":"{line_mac(key, body.encode())}"}}'


def _append_forged(log, lines):
    _write(log, lines + [_forged(lines, None)])


def _append_forged_mac(log, lines):
    _write(log, lines + [_forged(lines, os.urandom(32))])


def _truncate_and_delete_head(log, lines):
    _write(log, lines[:8])
    head_path(log.path).unlink()


def _truncate_and_edit_head(log, lines):
    _write(log, lines[:8])
    head = json.loads(head_path(log.path).read_text())
    head.update(lines=8, last=hashlib.sha256(lines[7].encode()).hexdigest())
    head_path(log.path).write_text(json.dumps(head))


HEAD = "{data}/audit.jsonl.head"
MISSING = ("missing: the log ends after line {n} but its head record (" + HEAD + ") says 10 (truncated, "
           "emptied, or lines removed from the end)")
NO_MAC = "no MAC: not written by Scribe under this site's key (forged, or an older line moved)"
BAD_MAC = "MAC does not match: the line was edited or forged"


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (_edit_last, f"line 10: {BAD_MAC} (and 1 more)"),
        (_delete_last, "line 9: " + MISSING.replace("{n}", "8")),
        (_truncate, "line 4: " + MISSING.replace("{n}", "3")),
        (_empty, "line 1: missing: the log is empty but its head record (" + HEAD + ") says 10 line(s)"),
        (_delete, "line 1: missing: the log was deleted; its head record (" + HEAD + ") says 10 line(s)"),
        (_rewrite_unkeyed, f"line 1: {NO_MAC} (and 10 more)"),
        (_rewrite_other_key, f"line 1: {BAD_MAC} (and 10 more)"),
        (_append_forged, f"line 11: {NO_MAC}"),
        (_append_forged_mac, f"line 11: {BAD_MAC}"),
        (_truncate_and_delete_head, "line 8: no head record (" + HEAD + " is missing): lines removed from the "
                                    "end cannot be ruled out"),
        (_truncate_and_edit_head, "line 8: cannot be vouched for: head record " + HEAD + ": its MAC does not "
                                  "match (edited, or written under another key)"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_tampering_fails_verification_in_one_line(tmp_path, tamper, expected):
    log = _site_log(tmp_path)
    data = log.path.parent
    intact = _scribe_audit(data, "--verify")
    last = hashlib.sha256(log.path.read_bytes().splitlines()[-1]).hexdigest()
    assert (intact.returncode, intact.stdout, intact.stderr) == (
        0, f"{log.path}: intact: 10 line(s); last line sha256 {last}\n", "")
    tamper(log, log.path.read_text().splitlines())
    r = _scribe_audit(data, "--verify")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"error: {log.path}: {expected.format(data=data)}\n")


# -- a visit its process never closed ----------------------------------------------------------

import signal  # noqa: E402

SAMPLES = REPO / "samples"
# Said in the cough visit (samples/cough_visit.txt): none of it may reach the audit log.
SAID = ("cough for about a week", "doctor patel", "keeps me up at night")


def test_a_visit_killed_by_sigkill_is_recorded_as_interrupted_once(tmp_path):
    """A real `scribe transcribe` killed (SIGKILL) mid-visit leaves visit_opened with no
    end; each later start of scribe looks, and the first records visit_interrupted
    (reason crash) for it, once, before its own visit. The log stays intact and holds
    nothing said in the visit, nor the site key or the MAC key."""
    data, out = tmp_path / "data", tmp_path / "out"
    env = {**os.environ, "SCRIBE_DATA_DIR": str(data), "DRIVER_STORED": "1"}
    env.pop("SCRIBE_AUDIT_LOG", None)
    env.pop("SCRIBE_SITE_KEY", None)
    with open(tmp_path / "stderr.txt", "w") as err:  # a file: a chatty child cannot block
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "privacy_driver.py"), "transcribe",
             str(SAMPLES / "cough_visit.wav"), "--out", str(out)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )
        for line in proc.stdout:  # its own word that the visit holds audio, never a timer
            if line.startswith("STORED"):
                break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    log = AuditLog(data / "audit.jsonl", key_path=data / "site.key")
    (killed,) = log.read()
    assert (killed["event"], killed["pid"], killed["privacy"]) == ("visit_opened", proc.pid, True)

    for _ in range(2):  # scribe starts again, twice
        r = subprocess.run([sys.executable, "-m", "scribe.cli", "draft", str(SAMPLES / "cough_visit.txt"),
                            "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    entries = log.read()
    events = [(e["event"], e["visit_id"]) for e in entries]
    assert events[:3] == [("visit_opened", killed["visit_id"]), ("visit_interrupted", killed["visit_id"]),
                          ("visit_opened", entries[2]["visit_id"])]
    assert [e for e in entries if e["event"] == "visit_interrupted"] == [entries[1]]
    assert entries[1]["reason"] == "crash" and set(entries[1]) == {"time", "event", "visit_id", "reason", "prev", "mac"}
    assert [e for e, _ in events].count("visit_closed") == 2 and log.verify() == []

    written = (log.path.read_bytes() + log.head_path.read_bytes()).lower()
    for phrase in SAID:
        assert phrase.encode() in (SAMPLES / "cough_visit.txt").read_bytes().lower()  # the needle is real
        assert phrase.encode() not in written
    site_key = (data / "site.key").read_bytes()
    for secret in (site_key, mac_key(data / "site.key", create=False)):
        assert secret not in log.path.read_bytes() and secret.hex().encode() not in written


# -- older logs, crashes between a line and its head, and no blessing of tampering ----------


def test_an_older_scribes_log_is_reported_then_anchored_by_the_next_event(tmp_path):
    """A log written before lines were keyed (prev chain, no MAC, no head) is not bricked:
    verification says what it is, in one line; the next event anchors it, and from then
    on an edit of its older lines is detected like any other."""
    data = tmp_path / "data"
    data.mkdir()
    old = _rechain([json.dumps({"time": "2025-01-01T00:00:00.000Z", "event": "visit_opened",
                                "visit_id": f"old-{i}", "privacy": True}, separators=(",", ":")) for i in range(5)], None)
    (data / "audit.jsonl").write_text("".join(line + "\n" for line in old))
    r = _scribe_audit(data, "--verify")
    assert (r.returncode, r.stderr) == (1, f"error: {data}/audit.jsonl: line 1: not anchored: the log's 5 line(s) were "
                                           "written by an older Scribe, before audit logs were keyed; the next event "
                                           "recorded anchors them\n")
    log = AuditLog(data / "audit.jsonl", key_path=data / "site.key")
    log.record("visits_purged", "*", visits=0, reason="user_request")
    entries = log.read()
    assert [(e["event"], e.get("count")) for e in entries[5:]] == [("audit_anchored", 5), ("visits_purged", None)]
    assert log.verify() == [] and _scribe_audit(data, "--verify").returncode == 0
    lines = log.path.read_text().splitlines()
    _write(log, [lines[0], lines[1].replace("old-1", "old-9"), *lines[2:]])
    assert log.verify() == ["line 3: hash chain broken (does not follow line 2; a line was edited, removed or inserted)"]


def test_a_writer_stopped_between_its_line_and_the_head_is_not_tampering(tmp_path):
    log = _site_log(tmp_path)
    stale = log.head_path.read_bytes()
    log.record("visit_opened", "v-3")
    log.head_path.write_bytes(stale)  # as if killed before the head was replaced
    assert log.verify() == []  # the line past the head carries a valid MAC
    log.record("visit_closed", "v-3", duration_seconds=1.0)
    assert log.verify() == [] and json.loads(log.head_path.read_text())["lines"] == 12


def test_recording_after_tampering_does_not_bless_it(tmp_path):
    """A truncated log keeps failing after more events: its head is not moved on."""
    log = _site_log(tmp_path)
    _write(log, log.path.read_text().splitlines()[:8])
    log.record("visit_opened", "v-3")
    assert log.verify()[0].startswith("line 10: missing: the log ends after line 9")
    log.record("visit_closed", "v-3", duration_seconds=1.0)
    log.record("visit_opened", "v-4")
    assert log.verify() == [f"line 10: not the line its head record ({log.head_path}) anchors (edited or replaced)"]


def test_the_table_shows_the_process_id_not_its_identity_details(audit):
    audit.record("visit_opened", "v-1", privacy=True)
    entry = audit.read()[0]
    assert entry["pid"] == os.getpid() and {"boot_id", "process_start"} <= set(entry)
    row = format_table([entry]).splitlines()[1]
    assert f"pid={os.getpid()}" in row and "boot_id" not in row and "process_start" not in row


def _open_and_die(path: str, key: str) -> None:
    AuditLog(path, key_path=key).record("visit_opened", "v-dead", privacy=True)
    os._exit(0)  # no close, no end: as a SIGKILL leaves it


def test_sweep_records_a_dead_process_visit_once_and_leaves_live_ones(tmp_path):
    path, key = tmp_path / "audit.jsonl", tmp_path / "site.key"
    assert AuditLog(path, key_path=key).sweep() == [] and not path.exists()  # nothing to sweep: no log made
    child = multiprocessing.get_context("fork").Process(target=_open_and_die, args=(str(path), str(key)))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    log = AuditLog(path, key_path=key)
    assert log.sweep() == ["v-dead"]
    log.record("visit_opened", "v-live")  # this process: alive
    assert AuditLog(path, key_path=key).sweep() == []  # once per process
    assert [(e["event"], e["visit_id"]) for e in log.read()] == [
        ("visit_opened", "v-dead"), ("visit_interrupted", "v-dead"), ("visit_opened", "v-live")]
    assert log.verify() == []
