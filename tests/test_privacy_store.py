"""Standard mode's encrypted visit store: round trip, crash recovery with a real SIGKILL,
torn and tampered journals, keys, plaintext never on disk, retention."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from privacy.store import (
    SAMPLE_RATE,
    RecordIntegrityError as IntegrityError,
    StoreError,
    VisitStore,
    data_dir,
    default_key_path,
    load_site_key,
)

REPO = Path(__file__).resolve().parent.parent
PHRASE = "Patient reports crushing chest pain radiating to the left arm"


@pytest.fixture
def key(tmp_path) -> bytearray:
    return load_site_key(tmp_path / "site.key")


@pytest.fixture
def store(tmp_path, key) -> VisitStore:
    return VisitStore(tmp_path / "visits", key)


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32)


def _append_in_odd_pieces(journal, audio: np.ndarray, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    at = 0
    while at < len(audio):
        n = int(rng.integers(1, 7919))
        journal.append_audio(audio[at : at + n])
        at += n


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


# --- round trip ------------------------------------------------------------------------


def test_round_trip_is_bit_exact(store):
    audio = _signal(10.3)
    texts = ["Doctor: What brings you in?", PHRASE, "", "Ünïcödé 血压 ok"]
    with store.open_visit() as journal:
        _append_in_odd_pieces(journal, audio)
        for t in texts:
            journal.append_text(t)
        visit_id = journal.visit_id

    got = store.recover(visit_id)
    assert _same_bits(got.audio, audio)
    assert got.transcript == texts
    assert not got.torn_tail

    [summary] = store.visits()
    assert summary.visit_id == visit_id
    assert summary.state == "complete"
    assert summary.audio_seconds == pytest.approx(10.3, abs=1 / SAMPLE_RATE)
    assert summary.transcript_records == len(texts)
    assert store.interrupted() == []


def test_records_are_whole_seconds_until_flush(store):
    journal = store.open_visit("v1")
    journal.append_audio(_signal(2.5))
    assert store.visits()[0].audio_seconds == 2.0  # the last half second is only in memory
    journal.flush()
    assert store.visits()[0].audio_seconds == 2.5
    journal.complete()
    with pytest.raises(StoreError, match="closed"):
        journal.append_audio(_signal(0.1))


def test_rejects_bad_audio_and_ids(store):
    journal = store.open_visit("ok-id_1")
    with pytest.raises(ValueError):
        journal.append_audio(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError):
        journal.append_audio(np.zeros(100, np.float64))
    journal.complete()
    with pytest.raises(StoreError, match="already exists"):
        store.open_visit("ok-id_1")
    for bad in ("../escape", "a/b", "", "x" * 65):
        with pytest.raises(StoreError, match="invalid visit id"):
            store.open_visit(bad)


def test_meta_holds_metadata_only_and_files_are_private(store):
    with store.open_visit() as journal:
        journal.append_audio(_signal(1.5))
        journal.append_text(PHRASE)
    folder = store.root / journal.visit_id
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["visit_id"] == journal.visit_id
    assert meta["state"] == "complete"
    assert meta["sample_rate"] == SAMPLE_RATE
    assert set(meta) <= {
        "format", "visit_id", "created", "state", "sample_rate", "writer", "key_check",
        "records", "completed", "recovered",
    }


def test_exception_in_context_leaves_visit_interrupted(store):
    audio = _signal(1.7)
    with pytest.raises(RuntimeError):
        with store.open_visit("crashy") as journal:
            journal.append_audio(audio)
            raise RuntimeError("pipeline failed")
    [summary] = store.interrupted()
    assert summary.visit_id == "crashy" and summary.state == "open"
    # Buffered audio was flushed on the way out, so nothing handed in was lost.
    assert _same_bits(store.recover("crashy").audio, audio)
    store.mark_recovered("crashy")
    assert store.interrupted() == []
    assert store.visits()[0].state == "recovered"


# --- crash recovery --------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from privacy.store import VisitStore, load_site_key

    key_path, root, visit_id = sys.argv[1:4]
    store = VisitStore(root, load_site_key(key_path, create=False))
    journal = store.open_visit(visit_id)
    audio = np.random.default_rng(7).standard_normal(5 * 16000).astype(np.float32)
    piece = 1600  # 0.1 s
    for i in range(0, len(audio), piece):
        journal.append_audio(audio[i : i + piece])
        print("appended", i + piece, flush=True)
        if i + piece == 3 * 16000:
            print("ready", flush=True)
        time.sleep(0.01)
    time.sleep(60)  # never completes: only SIGKILL ends it
    """
)


def test_sigkill_mid_visit_loses_at_most_a_second(tmp_path, key):
    key_path = tmp_path / "site.key"
    root = tmp_path / "visits"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(key_path), str(root), "killed"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    watchdog = threading.Timer(60, proc.kill)  # a hung child fails the test, not the run
    watchdog.start()
    try:
        appended = 0
        for line in proc.stdout:
            if line.startswith("appended"):
                appended = int(line.split()[1])
            if line.strip() == "ready":
                break
        else:
            pytest.fail(f"child exited before ready: {proc.stderr.read()}")
        # Kill mid-second, not on a record boundary, so buffered audio really is lost.
        for line in proc.stdout:
            appended = int(line.split()[1])
            if appended >= 3.4 * SAMPLE_RATE:
                break

        store = VisitStore(root, key)
        # While the writer lives the visit is not interrupted, only open.
        [live] = store.visits()
        assert live.state == "open" and live.writer_alive
        assert store.interrupted() == []

        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
    assert proc.returncode == -signal.SIGKILL
    for line in rest.splitlines():
        if line.startswith("appended"):
            appended = int(line.split()[1])
    assert appended >= 3 * SAMPLE_RATE

    [summary] = store.interrupted()
    assert summary.visit_id == "killed" and not summary.writer_alive

    got = store.recover("killed")
    original = np.random.default_rng(7).standard_normal(5 * SAMPLE_RATE).astype(np.float32)
    # At most one piece may have been appended after the last line the child printed.
    assert len(got.audio) <= appended + 1600
    assert len(got.audio) > appended - SAMPLE_RATE
    assert _same_bits(got.audio, original[: len(got.audio)])
    assert summary.audio_seconds == pytest.approx(len(got.audio) / SAMPLE_RATE)


# --- damaged journals ------------------------------------------------------------------


def _open_visit_with_records(store, visit_id="v", seconds=4, texts=("one", "two", "three")):
    """An open visit (writer closed without completing, as after a crash)."""
    audio = _signal(seconds, seed=3)
    journal = store.open_visit(visit_id)
    journal.append_audio(audio)
    for t in texts:
        journal.append_text(t)
    journal._close_fds()  # as if killed: no flush, no meta update
    return audio, list(texts)


def test_torn_final_frame_is_ignored(store):
    audio, texts = _open_visit_with_records(store)
    folder = store.root / "v"
    for name in ("audio.journal", "transcript.journal"):
        path = folder / name
        os.truncate(path, path.stat().st_size - 5)

    got = store.recover("v")
    assert got.torn_tail
    assert _same_bits(got.audio, audio[: 3 * SAMPLE_RATE])
    assert got.transcript == texts[:-1]
    assert store.visits()[0].audio_seconds == 3.0


def test_torn_header_and_zero_tail_are_ignored(store):
    audio, texts = _open_visit_with_records(store)
    folder = store.root / "v"
    with open(folder / "audio.journal", "ab") as f:
        f.write(b"\x00\x00\x00")  # header cut short
    with open(folder / "transcript.journal", "ab") as f:
        f.write(bytes(300))  # a power cut left the file extended with zeros
    got = store.recover("v")
    assert _same_bits(got.audio, audio) and got.transcript == texts


def test_truncated_complete_visit_is_an_error(store):
    with store.open_visit("done") as journal:
        journal.append_audio(_signal(3))
    path = store.root / "done" / "audio.journal"
    os.truncate(path, path.stat().st_size - 5)
    with pytest.raises(IntegrityError, match="done: audio journal holds 2 of 3 records"):
        store.recover("done")


@pytest.mark.parametrize("where", ["middle ciphertext", "last ciphertext", "length header"])
def test_flipped_bit_is_an_integrity_error(store, where):
    _open_visit_with_records(store, seconds=3)
    path = store.root / "v" / "audio.journal"
    data = bytearray(path.read_bytes())
    frame = 8 + 4 + 4 + 12 + 64000 + 16  # magic, then one 1 s record
    offset = {
        "middle ciphertext": 8 + frame + 8 + 12 + 100,
        "last ciphertext": len(data) - 3,
        "length header": 8 + frame + 2,
    }[where]
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        store.recover("v")
    assert isinstance(err.value, IntegrityError)
    message = str(err.value)
    assert "\n" not in message and "visit v" in message and "record" in message
    if where == "middle ciphertext":
        assert "audio record 1 failed authentication" in message


def test_records_cannot_be_swapped_between_visits(store):
    _open_visit_with_records(store, "a", seconds=1)
    _open_visit_with_records(store, "b", seconds=1)
    a, b = store.root / "a" / "audio.journal", store.root / "b" / "audio.journal"
    a.write_bytes(b.read_bytes())
    with pytest.raises(IntegrityError, match="visit a: audio record 0"):
        store.recover("a")


def test_wrong_site_key_is_refused(store, tmp_path):
    _open_visit_with_records(store)
    other = VisitStore(store.root, load_site_key(tmp_path / "other.key"))
    with pytest.raises(StoreError, match="site key does not match"):
        other.recover("v")
    # Metadata needs no key: listing still works.
    assert [v.visit_id for v in other.visits()] == ["v"]


# --- nothing readable at rest ----------------------------------------------------------


def test_no_plaintext_on_disk(store):
    audio = _signal(3.2, seed=11)
    with store.open_visit() as journal:
        _append_in_odd_pieces(journal, audio)
        journal.append_text(PHRASE)
    open_audio, _ = _open_visit_with_records(store, "unfinished", texts=(PHRASE,))

    needles = [
        audio[20000:20004].tobytes(),
        audio[-8:-4].tobytes(),
        open_audio[1000:1004].tobytes(),
        PHRASE.encode(),
        PHRASE.encode("utf-16-le"),
        b"chest pain",
    ]
    # The needles would be found if the bytes were there in the clear.
    assert needles[0] in audio.tobytes()
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(files) == 6
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"plaintext in {path}"


# --- site key --------------------------------------------------------------------------


def test_key_file_created_private_and_reused(tmp_path):
    path = tmp_path / "keys" / "site.key"
    key = load_site_key(path)
    assert isinstance(key, bytearray) and len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_site_key(path) == key
    assert load_site_key(path, create=False) == key


def test_loose_key_permissions_refused(tmp_path):
    path = tmp_path / "site.key"
    key = load_site_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(StoreError) as err:
        load_site_key(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "0644" in message and "\n" not in message
    assert key.hex() not in message
    os.chmod(path, 0o640)
    with pytest.raises(StoreError, match="group/other"):
        load_site_key(path)


def test_bad_or_missing_key_refused(tmp_path):
    short = tmp_path / "short.key"
    fd = os.open(short, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"x" * 31)
    os.close(fd)
    with pytest.raises(StoreError, match="32 bytes"):
        load_site_key(short)
    missing = tmp_path / "missing.key"
    with pytest.raises(StoreError, match="not found"):
        load_site_key(missing, create=False)
    assert not missing.exists()


def test_default_paths(monkeypatch, tmp_path):
    for var in ("SCRIBE_SITE_KEY", "SCRIBE_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "scribe"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "scribe"
    monkeypatch.setenv("SCRIBE_DATA_DIR", str(tmp_path / "data"))
    assert default_key_path() == tmp_path / "data" / "site.key"
    store = VisitStore(key=load_site_key())
    assert store.root == tmp_path / "data" / "visits"
    assert (tmp_path / "data" / "site.key").exists()
    monkeypatch.setenv("SCRIBE_SITE_KEY", str(tmp_path / "elsewhere.key"))
    assert default_key_path() == tmp_path / "elsewhere.key"


# --- retention -------------------------------------------------------------------------


def _backdate(store, visit_id: str, days: float) -> None:
    path = store.root / visit_id / "meta.json"
    meta = json.loads(path.read_text())
    meta["created"] = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(meta))


def test_purge_deletes_old_visits_and_keeps_recent(store):
    for visit_id in ("old", "recent"):
        with store.open_visit(visit_id) as journal:
            journal.append_audio(_signal(1.2))
    _backdate(store, "old", days=40)
    now = datetime.now(timezone.utc)

    assert store.purge(timedelta(days=30), now=now) == ["old"]
    assert not (store.root / "old").exists()
    assert [v.visit_id for v in store.visits()] == ["recent"]

    assert store.purge_expired(30, now=now + timedelta(days=29)) == []
    assert store.purge_expired(30, now=now + timedelta(days=31)) == ["recent"]
    assert list(store.root.iterdir()) == []


def test_purge_keeps_live_writer_and_removes_debris(store):
    live = store.open_visit("live")
    live.append_audio(_signal(1))
    debris = store.root / "debris"  # a crash between mkdir and the first meta write
    debris.mkdir()
    old = (datetime.now(timezone.utc) - timedelta(days=90)).timestamp()
    os.utime(debris, (old, old))
    assert store.purge(timedelta(days=30), now=datetime.now(timezone.utc) + timedelta(days=60)) == ["debris"]
    assert (store.root / "live").exists() and not debris.exists()
    live.complete()


def test_delete(store):
    with store.open_visit("gone") as journal:
        journal.append_text(PHRASE)
    store.delete("gone")
    assert not (store.root / "gone").exists()
    with pytest.raises(StoreError, match="no such visit"):
        store.delete("gone")
