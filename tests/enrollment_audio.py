"""Speech for the enrollment tests and benchmark, synthesized with flite: the samples'
clinician voice (``rms``) reading the enrollment text, two voices taking turns, and a
"swapped" visit where the patient asks the questions and the clinician answers in the
first person (words alone label its roles the other way round); and role-time scoring
against reference turns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from scribe.audio.decode import decode_audio
from scribe.scoring import load_rttm
from scribe.types import Role
from tests.audio_tools import flite_path, write_audio

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ("cough_visit", "knee_followup", "aci_d2n_visit")

# Clinician (rms) answers in the first person; the patient (slt) asks and asks for tests.
SWAPPED = (
    ("patient", "Doctor, what do you think is causing my cough? Do I need antibiotics? How often should I take them?"),
    ("clinician", "I think it is a virus. I have seen a lot of it this week, and I had it myself last month."),
    ("patient", "Should I get a chest x-ray? Any blood work? Can you check my lungs and my blood pressure?"),
    ("clinician", "I listened already and my impression is that I hear nothing worrying. I would rest and drink fluids."),
    ("patient", "What if the fever comes back? Will you refer me to a specialist? When do I follow up?"),
    ("clinician", "I would call me if it gets worse. My own cough lasted two weeks, and I felt tired the whole time."),
)
# Clinician (rms), patient (slt) and her son (awb, the flite voice closest to rms: its
# windows' mean cosine to rms's voiceprint 0.75); the son speaks of the patient as "she".
COMPANION = (
    ("clinician", "Good morning, what brings you in today?"),
    ("patient", "I have had a cough for a week and it keeps me up."),
    ("other", "She has been coughing every night, I can hear her from my room."),
    ("clinician", "Any fever or chills? Any shortness of breath?"),
    ("patient", "No fever, but I feel tired all the time."),
    ("other", "She also stopped eating much, which worries me a lot."),
    ("clinician", "Let me listen to your lungs. Take a deep breath in and out."),
    ("patient", "Is it serious? Do I need antibiotics?"),
    ("clinician", "Your lungs sound clear. I think this is a viral bronchitis. Rest and drink fluids."),
    ("other", "Should I keep her home from work this week then?"),
    ("clinician", "Yes, a few days at home is sensible. Come back if the fever starts."),
    ("patient", "Thank you doctor, I will."),
)
VOICES = {"clinician": "rms", "patient": "slt", "other": "awb"}


def speak(text: str, voice: str, out: Path) -> np.ndarray:
    """``text`` in flite ``voice`` (the samples' pace: duration_stretch 1.1), (n,) float32
    at 16 kHz; the wav is left at ``out``."""
    subprocess.run([flite_path(), "-voice", voice, "--setf", "duration_stretch=1.1", "-t", text, "-o", str(out)], check=True)
    return decode_audio(out)


def _level(a: np.ndarray) -> np.ndarray:
    return (a * (0.1 / (np.sqrt(np.mean(a**2)) + 1e-9))).astype(np.float32)


def two_voices(folder: Path, text: str, first: str = "rms", second: str = "slt", parts: int = 4) -> Path:
    """``text`` spoken by two voices taking turns (``parts`` alternating quarters)."""
    a, b = _level(speak(text, first, folder / "a.wav")), _level(speak(text, second, folder / "b.wav"))
    n = min(a.size, b.size)
    turns = [(a if i % 2 == 0 else b)[i * n // parts : (i + 1) * n // parts] for i in range(parts)]
    return write_audio(folder / "two_voices.wav", np.concatenate(turns))


def scripted_visit(folder: Path, script=SWAPPED, name: str = "swapped_visit") -> tuple[Path, list[tuple[float, float, str]]]:
    """``script`` ((role, text) turns; ``SWAPPED`` or ``COMPANION``) as one 16 kHz wav
    (0.6 s between turns, each turn at the same level) and its reference turns (start,
    end, role)."""
    gap = np.zeros(int(0.6 * 16000), np.float32)
    parts, turns, t = [gap], [], 0.6
    for i, (role, text) in enumerate(script):
        a = _level(speak(text, VOICES[role], folder / f"{name}-{i}.wav"))
        parts += [a, gap]
        turns.append((t, t + a.size / 16000, role))
        t += a.size / 16000 + 0.6
    return write_audio(folder / f"{name}.wav", np.concatenate(parts)), turns


def swapped_visit(folder: Path) -> tuple[Path, list[tuple[float, float, str]]]:
    """``SWAPPED`` as a visit (``scripted_visit``)."""
    return scripted_visit(folder, SWAPPED, "swapped_visit")


def companion_visit(folder: Path) -> tuple[Path, list[tuple[float, float, str]]]:
    """``COMPANION`` (three voices) as a visit (``scripted_visit``)."""
    return scripted_visit(folder, COMPANION, "companion_visit")


def reference_turns(uri: str) -> list[tuple[float, float, str]]:
    """A sample's reference turns (start, end, "clinician" | "patient") from its RTTM."""
    ann = load_rttm(REPO / "samples" / f"{uri}.rttm")[uri]
    return [(seg.start, seg.end, str(lab)) for seg, _, lab in ann.itertracks(yield_label=True)]


def role_time(transcript, turns: list[tuple[float, float, str]], role: str) -> tuple[float, float]:
    """(right, wrong): fractions of the reference ``role`` time covered by transcript
    segments of that role (``Role.CLINICIAN`` / ``Role.PATIENT`` / ``Role.OTHER``), and by
    segments of another role. The rest is time no segment covers (pauses inside a turn, words the
    recogniser missed), which no role can fix."""
    want = Role(role)
    total = right = wrong = 0.0
    for s, e, r in turns:
        if r != role:
            continue
        total += e - s
        for seg in transcript.segments:
            overlap = max(0.0, min(e, seg.end) - max(s, seg.start))
            if seg.role is want:
                right += overlap
            else:
                wrong += overlap
    return (right / total, wrong / total) if total else (1.0, 0.0)
