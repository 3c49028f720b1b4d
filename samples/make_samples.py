#!/usr/bin/env python3
"""Synthesize the sample visits in samples/ from the dialogue scripts in samples/dialogues/.

    python samples/make_samples.py                 # regenerate every sample
    python samples/make_samples.py cough_visit     # only the named dialogue(s)

Each `samples/dialogues/<name>.txt` holds one turn a line, `clinician: ...` or
`patient: ...`. Lines starting with `#` are comments; a `# source: ...` line is copied
into the reference transcript as its attribution. For every dialogue this writes:

    samples/<name>.wav    16 kHz mono 16-bit PCM
    samples/<name>.rttm   reference diarization (speaker = clinician / patient)
    samples/<name>.json   reference transcript with per-turn times
    samples/<name>.txt    reference text, one `ROLE: text` line a turn

Each turn is synthesized on its own with the role's voice (flite, or festival's
text2wave), brought to 16 kHz mono, trimmed to its speech with an energy threshold and
level-matched; turns are joined with seeded gaps of 0.35-0.9 s, after 0.5 s of leading
and before 1 s of trailing silence. The RTTM and JSON times are measured on the trimmed
audio, so they are tight to the synthesized speech. The output is deterministic: the
same dialogue and voices give byte-identical files.

Needs the Debian packages `flite` (and `festival` + `festvox-kallpc16k` only if a voice
uses the festival engine); Python needs numpy and soundfile.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from privacy import SAMPLE_RATE  # the samples are at the rate Scribe works at

HERE = Path(__file__).resolve().parent
DIALOGUES = HERE / "dialogues"

# Role -> (engine, voice). rms is a low-pitched US male, slt a US female: different
# gender and pitch, so the two speakers are easy to tell apart by ear and by a diarizer.
# Whisper tiny.en transcribes both well (flite awb/kal16/rms/slt and festival
# kal_diphone all gave 4-13% WER on the two short visits; rms and slt were among the best).
VOICES: dict[str, tuple[str, str]] = {
    "clinician": ("flite", "rms"),
    "patient": ("flite", "slt"),
}
ROLES = tuple(VOICES)
# Speaking rate: both voices' default is about 190 words a minute, brisker than a visit;
# stretching durations by 10% sounds more natural and transcribes no worse.
DURATION_STRETCH = 1.1

LEAD_SILENCE = 0.5  # seconds before the first turn
TAIL_SILENCE = 1.0  # seconds after the last turn
GAP_RANGE = (0.35, 0.9)  # seconds between turns, drawn per turn from a seeded RNG
SEED = 20240611

# Trimming: 10 ms frames; a frame is speech when its RMS is within TRIM_DB of the turn's
# loudest frame (and above an absolute floor, for near-silent outputs).
FRAME = 160
TRIM_DB = 40.0
ABS_FLOOR = 1e-4
TARGET_RMS_DBFS = -20.0  # speech-frame loudness every turn is brought to
PEAK_LIMIT = 0.89  # about -1 dBFS

DEFAULT_SOURCE = "Written for the Scribe project as an example visit. Fictional; no real patient."


class SampleError(Exception):
    pass


# ---------------------------------------------------------------- dialogue parsing

def read_dialogue(path: Path) -> tuple[list[tuple[str, str]], str]:
    turns: list[tuple[str, str]] = []
    source = DEFAULT_SOURCE
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"#\s*source:\s*(.+)", line, re.IGNORECASE)
            if m:
                source = m.group(1).strip()
            continue
        m = re.match(r"(clinician|patient)\s*:\s*(.+)", line, re.IGNORECASE)
        if not m:
            raise SampleError(f"{path}:{n}: expected 'clinician: ...' or 'patient: ...', got {line[:60]!r}")
        turns.append((m.group(1).lower(), re.sub(r"\s+", " ", m.group(2)).strip()))
    if not turns:
        raise SampleError(f"{path}: no turns")
    return turns, source


# ---------------------------------------------------------------- synthesis

def check_tools() -> None:
    engines = {engine for engine, _ in VOICES.values()}
    if "flite" in engines and shutil.which("flite") is None:
        raise SampleError("flite not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install flite) "
                          "and run this script again.")
    if "festival" in engines and shutil.which("text2wave") is None:
        raise SampleError("text2wave (festival) not found on PATH. Install it (Debian/Ubuntu: "
                          "sudo apt-get install festival festvox-kallpc16k) or use flite voices only.")


def synthesize(text: str, engine: str, voice: str, tmp: Path) -> np.ndarray:
    """One turn of speech as 16 kHz mono float32."""
    out = tmp / "turn.wav"
    out.unlink(missing_ok=True)
    if engine == "flite":
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={DURATION_STRETCH}",
               "-t", text, "-o", str(out)]
    elif engine == "festival":
        txt = tmp / "turn.txt"
        txt.write_text(text + "\n", encoding="utf-8")
        cmd = ["text2wave", "-eval", f"(voice_{voice})",
               "-eval", f"(Parameter.set 'Duration_Stretch {DURATION_STRETCH})", "-o", str(out), str(txt)]
    else:
        raise SampleError(f"unknown TTS engine {engine!r}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
        raise SampleError(f"{engine} voice {voice!r} failed on {text[:50]!r}: {proc.stderr.strip()[:300]}")
    audio, sr = sf.read(str(out), dtype="float64", always_2d=True)
    return resample(audio.mean(axis=1), sr, SAMPLE_RATE)


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Band-limited (FFT) resampling; exact and deterministic for whole short turns."""
    if sr == target or len(x) == 0:
        return x
    n_out = int(round(len(x) * target / sr))
    spec = np.fft.rfft(x)
    keep = min(len(spec), n_out // 2 + 1)
    y = np.fft.irfft(spec[:keep], n_out)
    return y * (n_out / len(x))


def trim(x: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence: keep from the first to the last 10 ms frame whose
    RMS is within TRIM_DB of the loudest frame."""
    n = len(x) // FRAME
    if n == 0:
        raise SampleError("synthesized turn is shorter than one frame")
    rms = np.sqrt(np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))
    threshold = max(rms.max() * 10 ** (-TRIM_DB / 20), ABS_FLOOR)
    voiced = np.flatnonzero(rms > threshold)
    if len(voiced) == 0:
        raise SampleError("synthesized turn is silent")
    return x[voiced[0] * FRAME: (voiced[-1] + 1) * FRAME]


def level(x: np.ndarray) -> np.ndarray:
    """Bring the turn's speech frames to TARGET_RMS_DBFS, without clipping."""
    n = len(x) // FRAME
    rms = np.sqrt(np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))
    speech = rms[rms > rms.max() * 0.1]
    gain = 10 ** (TARGET_RMS_DBFS / 20) / max(float(np.sqrt(np.mean(speech ** 2))), 1e-9)
    peak = float(np.abs(x).max()) * gain
    if peak > PEAK_LIMIT:
        gain *= PEAK_LIMIT / peak
    return x * gain


# ---------------------------------------------------------------- one visit

def make_sample(name: str, out_dir: Path = HERE) -> dict:
    turns, source = read_dialogue(DIALOGUES / f"{name}.txt")
    rng = random.Random(SEED ^ zlib.crc32(name.encode()))
    pieces: list[np.ndarray] = [np.zeros(int(LEAD_SILENCE * SAMPLE_RATE))]
    cursor = len(pieces[0])
    segments = []
    with tempfile.TemporaryDirectory(prefix="scribe-samples-") as tmpdir:
        tmp = Path(tmpdir)
        for i, (role, text) in enumerate(turns):
            if i:
                gap = np.zeros(int(round(rng.uniform(*GAP_RANGE), 2) * SAMPLE_RATE))
                pieces.append(gap)
                cursor += len(gap)
            engine, voice = VOICES[role]
            speech = level(trim(synthesize(text, engine, voice, tmp)))
            segments.append({
                "start": round(cursor / SAMPLE_RATE, 3),
                "end": round((cursor + len(speech)) / SAMPLE_RATE, 3),
                "speaker": role, "role": role, "text": text,
            })
            pieces.append(speech)
            cursor += len(speech)
    pieces.append(np.zeros(int(TAIL_SILENCE * SAMPLE_RATE)))
    audio = np.concatenate(pieces)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    duration = round(len(pcm) / SAMPLE_RATE, 3)

    sf.write(str(out_dir / f"{name}.wav"), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    with open(out_dir / f"{name}.rttm", "w", encoding="utf-8") as f:
        for s in segments:
            f.write(f"SPEAKER {name} 1 {s['start']:.3f} {s['end'] - s['start']:.3f} "
                    f"<NA> <NA> {s['speaker']} <NA> <NA>\n")
    doc = {
        "uri": name,
        "duration": duration,
        "source": source,
        "voices": {role: f"{engine}:{voice}" for role, (engine, voice) in VOICES.items()},
        "segments": segments,
    }
    (out_dir / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / f"{name}.txt").write_text(
        "".join(f"{s['role'].upper()}: {s['text']}\n" for s in segments), encoding="utf-8")
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="dialogue names (default: every samples/dialogues/*.txt)")
    for role in ROLES:
        ap.add_argument(f"--{role}-voice", metavar="ENGINE:VOICE",
                        help=f"override the {role} voice, e.g. flite:awb or festival:kal_diphone "
                             f"(default {':'.join(VOICES[role])})")
    args = ap.parse_args(argv)
    for role in ROLES:
        override = getattr(args, f"{role}_voice")
        if override:
            engine, _, voice = override.partition(":")
            VOICES[role] = (engine, voice)
    try:
        check_tools()
        names = args.names or sorted(p.stem for p in DIALOGUES.glob("*.txt"))
        if not names:
            raise SampleError(f"no dialogues in {DIALOGUES}")
        for name in names:
            if not (DIALOGUES / f"{name}.txt").exists():
                raise SampleError(f"{DIALOGUES / name}.txt not found")
            doc = make_sample(name)
            seg = doc["segments"]
            print(f"{name}: {doc['duration']:.1f} s, {len(seg)} turns, "
                  f"{sum(s['end'] - s['start'] for s in seg):.1f} s of speech")
    except SampleError as e:
        print(f"make_samples: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
