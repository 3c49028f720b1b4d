"""Privacy mode, proven on the real command in a real child process.

Canary: a visit whose audio carries a unique sample pattern and whose speech says known
words; afterwards none of the phrase, the audio bytes or the visit key may be found in
the temp folder, the home and cache folders, the output folder (but for the exported
note and FHIR document) or the logs. Again with the process killed mid-visit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, SAMPLES

DRIVER = str(REPO / "tests" / "privacy_driver.py")
SAMPLE = SAMPLES / "cough_visit.wav"
# Said in the sample visit and recognised by tiny.en; none is in a file name or log key.
PHRASES = ("bronchitis", "yellow mucus", "warm tea", "wheezing or crackles", "my daughter had a cold")


class Site:
    """A throwaway machine: its own HOME, caches, temp folder, data dir and config."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.tmp = root / "tmp"
        self.out = root / "out"
        self.private = root / "test-only"  # the driver's reports; never scanned
        for d in (self.home, self.tmp, self.out, self.private):
            d.mkdir(parents=True)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            # Where the bundled Whisper base model was joined; read-only use here.
            "SCRIBE_CACHE_DIR": str(self.home / ".cache" / "scribe"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DRIVER_KEY_FILE": str(self.private / "keys.txt"),
            "DRIVER_SOCKETS": str(self.private / "sockets.jsonl"),
        }

    def run(self, *args: str, extra: dict | None = None, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, DRIVER, "--verbose", *args],
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            cwd=self.root,
            **kw,
        )

    def keys(self) -> list[bytes]:
        path = self.private / "keys.txt"
        return [bytes.fromhex(line) for line in path.read_text().split()] if path.exists() else []

    def sockets(self) -> list[dict]:
        path = self.private / "sockets.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def scanned_files(self, exported: set[str]) -> list[Path]:
        files = [p for d in (self.home, self.tmp) for p in d.rglob("*") if p.is_file()]
        files += [p for p in self.out.rglob("*") if p.is_file() and p.name not in exported]
        return files


def canary_recording(path: Path) -> bytes:
    """The sample visit with 64 random samples written into its opening silence; returns
    those samples as the float32 bytes the decoder produces from them."""
    with wave.open(str(SAMPLE)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()
    rng = np.random.default_rng(uuid.uuid4().int % 2**32)
    pattern = rng.integers(-20000, 20000, 64, dtype=np.int16)
    pcm[1600 : 1600 + 64] = pattern  # 0.1 s in: silence in the sample
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return (pattern.astype(np.float32) / 32768.0).astype("<f4").tobytes()


def assert_nothing_retained(site: Site, needles: dict[str, bytes], logs: str, exported: set[str]) -> list[str]:
    checked = []
    for path in site.scanned_files(exported):
        data = path.read_bytes()
        lowered = data.lower()
        for what, needle in needles.items():
            assert needle not in lowered and needle not in data, f"{what} found in {path}"
        checked.append(str(path.relative_to(site.root)))
    for what, needle in needles.items():
        assert needle.decode("latin-1") not in logs.lower(), f"{what} found in the logs"
    return checked


def _needles(site: Site, pattern: bytes) -> dict[str, bytes]:
    needles = {f"phrase {p!r}": p.encode() for p in PHRASES}
    needles["audio pattern (float32)"] = pattern
    for i, key in enumerate(site.keys()):
        needles[f"key {i}"] = key
        needles[f"key {i} (hex)"] = key.hex().encode()
    return needles


def kill_after_stored(site: Site, args: list[str], extra: dict, seconds: float) -> tuple[float, str]:
    """Run the driver until it reports ``seconds`` of audio stored, then SIGKILL it.
    Waits on the process's own word, never on time. Returns (stored, its stderr)."""
    err_path = site.private / "stderr.txt"
    with open(err_path, "w") as err:  # a file, not a pipe: a chatty child can't block
        proc = subprocess.Popen(
            [sys.executable, DRIVER, *args],
            env={**site.env, "DRIVER_STORED": "1", **extra},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=site.root,
        )
        stored = 0.0
        for line in proc.stdout:
            if line.startswith("STORED"):
                stored = float(line.split()[1])
                if stored >= seconds:
                    break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and stored >= seconds
    return stored, err_path.read_text()


def test_canary_privacy_visit_retains_nothing(tmp_path):
    site = Site(tmp_path)
    recording = tmp_path / "canary.wav"  # the input is the user's file, outside the site
    pattern = canary_recording(recording)
    r = site.run("transcribe", str(recording), "--out", str(site.out))
    assert r.returncode == 0, r.stderr[-3000:]
    exported = {p.name for p in site.out.iterdir()}
    # The note's documents; the patient instructions' two when the drafter wrote any.
    assert {"canary.note.md", "canary.note.json", "canary.fhir.json"} <= exported
    assert exported <= {"canary.note.md", "canary.note.json", "canary.fhir.json", "canary.instructions.md",
                        "canary.instructions.fhir.json"}
    note = (site.out / "canary.note.md").read_text().lower()
    assert "bronchitis" in note  # the phrase was heard: its absence elsewhere means something
    assert len(site.keys()) == 1
    checked = assert_nothing_retained(site, _needles(site, pattern), r.stdout + r.stderr, exported)
    # What a privacy-mode visit leaves: the exported documents and the audit log (metadata).
    assert any(p.endswith("audit.jsonl") for p in checked)
    # Observed on the process: no socket to anywhere but loopback, indeed none at all.
    assert [s for s in site.sockets() if "127.0.0.1" not in str(s) and "AF_UNIX" not in str(s)] == []


def test_canary_survives_sigkill_mid_visit(tmp_path):
    site = Site(tmp_path)
    recording = tmp_path / "canary.wav"
    pattern = canary_recording(recording)
    extra = {"DRIVER_BLOCK_SECONDS": "20", "DRIVER_SPILL_BYTES": str(256 * 1024)}
    args = ["--verbose", "transcribe", str(recording), "--out", str(site.out)]
    _, err = kill_after_stored(site, args, extra, 40)
    spill = list(site.tmp.rglob("*.sealed"))
    assert spill, "the visit should have spilled sealed chunks (DRIVER_SPILL_BYTES)"
    assert_nothing_retained(site, _needles(site, pattern), err, set())
    assert list(site.out.iterdir()) == []  # killed before export: nothing came out
    # The next start removes the dead run's sealed leftovers (useless without its key).
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000)
    site.run("transcribe", str(silence), "--out", str(site.out))
    assert not list(site.tmp.rglob("*.sealed"))


def test_privacy_visit_fails_closed_on_a_network_attempt(tmp_path):
    site = Site(tmp_path)
    r = site.run("transcribe", str(SAMPLE), "--out", str(site.out), extra={"DRIVER_PHONE_HOME": "1"})
    assert r.returncode == 2
    assert f"error: {SAMPLE}: could not be processed (NetworkBlockedError); visit discarded, nothing retained" in (
        r.stderr.splitlines()
    )
    assert list(site.out.iterdir()) == []
    # The attempt was stopped before any packet: the process's socket events show the
    # connect to the remote address refused, and no other remote address.
    remote = [s for s in site.sockets() if "10.255.255.1" in str(s)]
    assert remote and all(s["event"] in ("socket.connect", "socket.getaddrinfo") for s in remote)
    audit = (site.home / ".local" / "share" / "scribe" / "audit.jsonl").read_text()
    assert '"event":"visit_discarded"' in audit.replace(" ", "")


def _standard_site(tmp_path: Path) -> Site:
    site = Site(tmp_path)
    site.env["SCRIBE_DATA_DIR"] = str(site.home / "scribe-data")
    return site


def test_standard_mode_recovers_a_killed_visit(tmp_path):
    from scribe.audio.decode import decode_audio

    site = _standard_site(tmp_path)
    original = SAMPLES / "knee_followup.wav"
    args = ["transcribe", str(original), "--out", str(site.out), "--no-privacy"]
    stored, _ = kill_after_stored(site, args, {"DRIVER_BLOCK_SECONDS": "10"}, 30)
    r = site.run("recover")
    assert r.returncode == 0, r.stderr
    (visit_id, *_), = [line.split() for line in r.stdout.splitlines()]
    r = site.run("recover", visit_id, "--out", str(tmp_path / "restored"))
    assert r.returncode == 0, r.stderr
    with wave.open(str(tmp_path / "restored" / f"{visit_id}.wav")) as w:
        restored = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32767
    reference = decode_audio(original)
    # Everything stored before the kill, up to the last second, comes back.
    assert restored.size >= (stored - 1.0) * 16000
    assert np.max(np.abs(restored - reference[: restored.size])) < 2e-4
    assert site.run("recover").stdout.strip() == "no interrupted visits"


def test_standard_mode_keeps_visits_encrypted_and_purge_deletes(tmp_path):
    site = _standard_site(tmp_path)
    r = site.run("transcribe", str(SAMPLE), "--out", str(site.out), "--no-privacy")
    assert r.returncode == 0, r.stderr
    visits = site.home / "scribe-data" / "visits"
    (kept,) = list(visits.iterdir())
    for f in kept.iterdir():  # encrypted at rest: nothing said is readable
        assert not any(p.encode() in f.read_bytes().lower() for p in PHRASES), f
    key = site.home / "scribe-data" / "site.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # Age the visit past a 7-day retention set in the config file: the next run purges it.
    meta = json.loads((kept / "meta.json").read_text())
    meta["created"] = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    (kept / "meta.json").write_text(json.dumps(meta))
    config = site.home / ".config" / "scribe" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("privacy = false\nretention_days = 7\n")
    r = site.run("transcribe", str(SAMPLE), "--out", str(site.out))  # privacy off by config
    assert r.returncode == 0, r.stderr
    assert not kept.exists() and len(list(visits.iterdir())) == 1
    assert (site.out / "cough_visit.transcript.json").exists()
    r = site.run("purge", "--older-than", "0")
    assert r.returncode == 0 and r.stdout.strip() == "deleted 1 visit(s) older than 0 day(s)"
    assert list(visits.iterdir()) == []
    r = site.run("audit")
    assert r.returncode == 0 and "visits_purged" in r.stdout
    assert not any(p in r.stdout.lower() for p in PHRASES)


def test_audit_detects_an_edited_log(tmp_path):
    site = Site(tmp_path)
    assert site.run("transcribe", str(SAMPLE), "--out", str(site.out)).returncode == 0
    log = site.home / ".local" / "share" / "scribe" / "audit.jsonl"
    assert site.run("audit", "--verify").returncode == 0
    lines = log.read_text().splitlines()
    del lines[1]
    log.write_text("\n".join(lines) + "\n")
    r = site.run("audit", "--verify")
    assert r.returncode == 1 and "error:" in r.stderr


@pytest.mark.parametrize("content", ["privacy = maybe\n", "colour = 'blue'\n", "privacy = [\n"])
def test_bad_config_is_one_line(tmp_path, content):
    site = Site(tmp_path)
    config = site.home / ".config" / "scribe" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(content)
    r = site.run("transcribe", str(SAMPLE), "--out", str(site.out))
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: {config}: ")


def test_recover_refuses_a_visit_still_being_recorded(tmp_path):
    from privacy.store import VisitStore, load_site_key

    site = _standard_site(tmp_path)
    data = Path(site.env["SCRIBE_DATA_DIR"])
    store = VisitStore(data / "visits", load_site_key(data / "site.key"))
    with store.open_visit("live") as journal:  # this process is its live writer
        journal.append_audio(np.zeros(16000, dtype=np.float32))
        r = site.run("recover", "live", "--out", str(tmp_path / "restored"))
        assert r.returncode == 1
        assert r.stderr.strip() == "error: visit live: still being recorded by a running scribe; not restored"
        assert not (tmp_path / "restored").exists()


def test_no_file_outside_scribes_own_folders(tmp_path):
    """Issue 12 item 7: a third-party library's own files (onnxruntime's telemetry wrote
    ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}`` and
    ``$TMPDIR/.ses``) must not appear: after a real visit, HOME holds only Scribe's data
    dir (audit log; README "Where things are kept") and TMPDIR holds nothing."""
    site = Site(tmp_path)
    r = site.run("transcribe", str(SAMPLE), "--out", str(site.out))
    assert r.returncode == 0, r.stderr[-3000:]
    data = site.home / ".local" / "share" / "scribe"  # $XDG_DATA_HOME/scribe
    in_home = [p for p in site.home.rglob("*") if p.is_file()]
    assert [p for p in in_home if data not in p.parents] == []
    assert data / "audit.jsonl" in in_home
    assert sorted(site.tmp.rglob("*")) == []
