"""A two-voice visit with overlapped speech, synthesized at test time with flite (as
samples/make_samples.py makes the samples): the patient starts "Wait, should I take it
with food?" 0.9 s before the clinician finishes her instruction (issue 14's example)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from privacy import SAMPLE_RATE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "samples"))
import make_samples  # noqa: E402  (samples/ is a folder of scripts, not a package)

CLINICIAN, PATIENT = ("flite", "rms"), ("flite", "slt")
OVERLAP = 0.9  # seconds the patient's question starts before the clinician finishes

# (voice, text, gap before it in seconds; negative: starts that long before the previous ends)
TURNS = (
    (CLINICIAN, "Good morning. What brings you in today?", 0.5),
    (PATIENT, "I have had a sore throat and a fever for three days.", 0.6),
    (CLINICIAN, "Any trouble swallowing or a rash anywhere on your body?", 0.6),
    (PATIENT, "It hurts to swallow, but I have not seen any rash.", 0.6),
    (CLINICIAN, "Your throat swab is positive for strep, so I will prescribe amoxicillin for ten days.", 0.7),
    (CLINICIAN, "Take one capsule of amoxicillin two times every day until it is all gone.", 0.7),
    (PATIENT, "Wait, should I take it with food?", -OVERLAP),
    (CLINICIAN, "Yes, taking it with food is fine and may settle your stomach.", 0.8),
    (PATIENT, "Okay, thank you doctor, I will start it tonight.", 0.6),
)


def make_overlap_visit(folder: Path) -> tuple[Path, list[tuple[float, float, str]]]:
    """Write ``folder/overlap_visit.wav`` (16 kHz mono); return it and the reference
    turns (start, end, "clinician" | "patient") in seconds."""
    make_samples.check_tools()
    pieces: list[tuple[int, np.ndarray]] = []
    cursor, turns = 0, []
    for (engine, voice), text, gap in TURNS:
        audio = make_samples.level(make_samples.trim(make_samples.synthesize(text, engine, voice, folder)))
        start = cursor + int(round(gap * SAMPLE_RATE))
        pieces.append((start, audio))
        cursor = start + audio.size
        role = "clinician" if voice == CLINICIAN[1] else "patient"
        turns.append((start / SAMPLE_RATE, cursor / SAMPLE_RATE, role))
    mix = np.zeros(max(s + a.size for s, a in pieces) + SAMPLE_RATE, dtype=np.float64)
    for start, audio in pieces:
        mix[start : start + audio.size] += audio
    mix *= min(1.0, make_samples.PEAK_LIMIT / float(np.abs(mix).max()))
    path = folder / "overlap_visit.wav"
    make_samples.sf.write(str(path), mix.astype(np.float32), SAMPLE_RATE)
    return path, turns
