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
    problems = audit.verify()
    assert problems and "line 3" in problems[0] and "chain" in problems[0]


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
