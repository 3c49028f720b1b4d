"""The visit lifecycle: whatever ends a visit, its key is destroyed and its buffers closed."""

from __future__ import annotations

import numpy as np
import pytest

from privacy.audit import AuditLog
from privacy.store import VisitStore
from privacy.visit import Visit


def test_close_shreds_even_when_a_step_fails(tmp_path, monkeypatch):
    audit = AuditLog(tmp_path / "audit.jsonl")
    visit = Visit(audit=audit)
    visit.store_audio(np.ones(16000, dtype=np.float32), 0.0)
    key = visit._key

    def broken_close():
        raise OSError("spill file could not be removed")

    monkeypatch.setattr(visit._audio, "close", broken_close)
    with pytest.raises(OSError):
        visit.close()
    assert key.destroyed and visit._text.closed  # later steps ran anyway
    assert [e["event"] for e in audit.read()][-1] == "visit_discarded"
    visit.close()  # idempotent


def test_failed_visit_is_discarded_and_windows_zeroed(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(RuntimeError):
        with Visit(audit=audit) as visit:
            window = visit.store_audio(np.full(32000, 0.5, dtype=np.float32), 0.0)
            assert window.size == 32000 and np.all(window == 0.5)
            visit.release(window)
            assert not window.any()  # the pipeline's plaintext is zeroed on release
            raise RuntimeError("drafting failed")
    assert visit._key.destroyed and visit._audio.closed
    events = audit.read()
    assert events[-1]["event"] == "visit_discarded" and events[-1]["reason"] == "error"


def test_interrupted_visit_is_a_user_stop():
    with pytest.raises(KeyboardInterrupt):
        with Visit() as visit:
            raise KeyboardInterrupt
    assert visit._key.destroyed


def test_discarded_standard_visit_closes_its_journal(tmp_path):
    store = VisitStore(tmp_path / "visits", bytearray(32))
    with pytest.raises(RuntimeError):
        with Visit(privacy=False, store=store) as visit:
            visit.store_audio(np.ones(24000, dtype=np.float32), 0.0)
            raise RuntimeError("model crashed")
    (summary,) = store.visits()
    assert summary.state == "open" and not summary.writer_alive  # listed for recovery
    assert [v.visit_id for v in store.interrupted()] == [visit.visit_id]
    assert store.recover(visit.visit_id).audio.size == 24000  # the tail was flushed


def test_a_standard_visit_refused_before_any_audio_leaves_nothing_to_recover(tmp_path, caplog):
    # Issue 12 item 13: every refused input (a corrupt file, in standard mode) was listed
    # by `scribe recover` as a crash-interrupted visit, with a WARNING line beside the
    # one-line error.
    store = VisitStore(tmp_path / "visits", bytearray(32))
    with caplog.at_level("INFO"):
        with pytest.raises(ValueError):
            with Visit(privacy=False, store=store):
                raise ValueError("not a readable audio file")
    assert store.visits() == [] and store.interrupted() == []
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
