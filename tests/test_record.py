"""`scribe record` against a virtual microphone: a private PulseAudio daemon whose null
sink's monitor is the default input, fed a sample visit in real time with paplay. The
command reaches it the way it would reach a real microphone (PortAudio -> ALSA -> pulse)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from tests.conftest import REPO, SAMPLES
from tests.service_process import foreground_signals

CLIP_SECONDS = 16


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (.ci/run installs it)")
        pytest.skip(f"{tool} not installed")
    return path


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    daemon = _need("pulseaudio")
    _need("paplay")
    root = tmp_path_factory.mktemp("pulse")
    runtime = root / "runtime"
    runtime.mkdir(mode=0o700)
    config = root / "default.pa"
    config.write_text(
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={runtime}/native\n"
        "load-module module-null-sink sink_name=v rate=16000 channels=1\n"
        "load-module module-remap-source master=v.monitor source_name=vmic\n"
        "set-default-sink v\nset-default-source vmic\n"
    )
    env = {
        **os.environ,
        "PULSE_RUNTIME_PATH": str(runtime),
        "PULSE_STATE_PATH": str(root / "state"),
        "PULSE_SERVER": f"unix:{runtime}/native",
        "HOME": str(root),
    }
    proc = subprocess.Popen(
        [daemon, "-n", "-F", str(config), "--exit-idle-time=-1", "--daemonize=no", "--system=false",
         "--disallow-exit", "--log-target=stderr"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    # Ready when its socket answers (pactl connects or fails at once).
    deadline = time.monotonic() + 30
    while subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=10).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"pulseaudio did not start: {proc.stderr.read()[-500:]}")
    yield env
    proc.terminate()
    proc.wait(timeout=10)


def _clip(path) -> None:
    with wave.open(str(SAMPLES / "cough_visit.wav")) as w:
        pcm = np.frombuffer(w.readframes(CLIP_SECONDS * 16000), dtype="<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.concatenate([pcm, np.zeros(16000, dtype="<i2")]).tobytes())


def test_record_from_a_virtual_microphone(pulse, tmp_path):
    clip = tmp_path / "clip.wav"
    _clip(clip)
    out = tmp_path / "out"
    rec = subprocess.Popen(
        [sys.executable, "-m", "scribe.cli", "record", "--device", "pulse", "--out", str(out), "--name", "room1"],
        cwd=REPO, env=pulse, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=foreground_signals,
    )
    # Readiness: the command says it is recording once the input stream runs.
    said = []
    for line in rec.stderr:
        said.append(line)
        if line.startswith("Recording from"):
            break
    assert said and said[-1].startswith("Recording from"), "".join(said)
    subprocess.run(["paplay", "--latency-msec=20", "--device=v", str(clip)], env=pulse, check=True, timeout=120)
    rec.send_signal(signal.SIGINT)
    stdout, stderr = rec.communicate(timeout=120)
    assert rec.returncode == 0, stderr
    text = stdout.lower()
    # The live transcript, line by line, as it was spoken.
    assert "[0:0" in stdout and "voice 1:" in text and "voice 2:" in text
    for phrase in ("what brings you in today", "cough for about a week", "bringing anything up"):
        assert phrase in text, stdout
    # Privacy mode: the note's documents (the instructions' when drafted), nothing else.
    written = {p.name for p in out.iterdir()}
    assert {"room1.fhir.json", "room1.note.json", "room1.note.md"} <= written
    assert written - {"room1.instructions.md", "room1.instructions.fhir.json"} == {
        "room1.fhir.json", "room1.note.json", "room1.note.md"}
    assert "cough" in (out / "room1.note.md").read_text().lower()
    assert "privacy mode" in stderr and "Traceback" not in stderr


def test_missing_microphone_is_a_clear_error(pulse, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "scribe.cli", "record", "--device", "no-such-mic", "--out", str(tmp_path)],
        cwd=REPO, env=pulse, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: microphone 'no-such-mic': not found among the input devices (")
    assert list(tmp_path.iterdir()) == []


def test_no_audio_system_is_a_clear_error(tmp_path):
    """No sound server and no such ALSA device: the message says so, nothing else."""
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nothing-here"}
    r = subprocess.run(
        [sys.executable, "-m", "scribe.cli", "record", "--device", "pulse", "--out", str(tmp_path / "o")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: microphone"), r.stderr
