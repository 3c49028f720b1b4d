"""Clinician role accuracy on the samples, with and without an enrolled clinician voice:
the fraction of reference clinician speech time (``samples/*.rttm``) whose transcript
segments carry ``Role.CLINICIAN`` (right), carry another role (wrong), and, of the time
transcript segments cover, the share that is right; the same for the patient.

The enrollment recording is ``scribe.speakers.enrolled.ENROLLMENT_TEXT`` read by flite
``rms`` (the samples' clinician voice; a text in no sample), synthesized here; the
voiceprint is made by ``make_voiceprint`` as ``scribe enroll`` makes it. Also the
"swapped" visit (``tests/enrollment_audio.py``: the patient asks the questions and the
clinician answers in the first person), where words alone invert the roles, and the
"companion" visit (the patient's son speaks too, in flite awb: three voices).

    python benchmarks/enrollment_roles.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scribe.options import ScribeOptions  # noqa: E402
from scribe.pipeline import Pipeline  # noqa: E402
from scribe.speakers.enrolled import ENROLLMENT_TEXT, make_voiceprint  # noqa: E402
from tests.enrollment_audio import (  # noqa: E402
    SAMPLES, companion_visit, reference_turns, role_time, speak, swapped_visit,
)


def main() -> None:
    plain = Pipeline(ScribeOptions())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        enrollment = speak(ENROLLMENT_TEXT, "rms", tmp / "enroll.wav")
        vector = make_voiceprint(plain.diarizer, plain.detector, enrollment, "enroll.wav")
        enrolled = Pipeline(
            ScribeOptions(), speech_model=plain.speech_model, detector=plain.detector, diarizer=plain.diarizer,
            voices=[("voice-bench000", vector)],
        )
        visits = [(REPO / "samples" / f"{u}.wav", reference_turns(u)) for u in SAMPLES]
        visits += [swapped_visit(tmp), companion_visit(tmp)]
        rows = []
        for path, turns in visits:
            row = {"uri": path.stem}
            for name, pipeline in (("without", plain), ("with", enrolled)):
                result = pipeline.process(path)
                row[f"speakers_{name}"] = len(result.annotation.labels())
                for role in sorted({r for _, _, r in turns}):
                    right, wrong = role_time(result.transcript, turns, role)
                    row[f"{role}_time_right_{name}"] = round(right, 4)
                    row[f"{role}_time_wrong_{name}"] = round(wrong, 4)
                    row[f"{role}_covered_right_{name}"] = round(right / (right + wrong), 4) if right + wrong else 1.0
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    out = REPO / "benchmarks/results/enrollment_roles.json"
    out.write_text(json.dumps({"enrollment": "flite rms reading ENROLLMENT_TEXT", "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
