"""Cost of ``--diarizer pyannote`` against the default ``embedding`` diarizer: seconds
of processing per minute of audio and peak memory, diarization alone (no speech model).

pyannote's trained weights are gated and cannot be downloaded here, so its pipeline runs
with randomly initialised models of community-1's architectures (PyanNet segmentation,
WeSpeaker ResNet34 embedding, VBx with a PLDA; tests/pyannote_models.py) and community-1's
settings (10 s chunks every 1 s, batches of 32). Compute is that of the trained models;
the speaker count is not (on samples/cough_visit.wav the random segmentation marked two
speakers active over the whole recording, so every chunk was embedded twice; trained
weights on a two-person visit embed one or two per chunk).
Each diarizer runs in its own child process so its peak RSS is its own. The machine's
load is recorded: other processes share its cores.

Needs the ``scribe[pyannote]`` extra (pyannote.audio).

    python benchmarks/pyannote_speed.py [--file VISIT.wav]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child(diarizer: str, file: str, folder: str | None) -> None:
    import torch

    from scribe.audio.decode import decode_audio
    from scribe.options import ScribeOptions
    from scribe.speakers import DIARIZERS
    from scribe.speakers.base import diarize
    from pyannote.core import Segment, Timeline

    audio = decode_audio(file)
    seconds = audio.size / 16000
    t0 = time.perf_counter()
    backend = DIARIZERS.create(diarizer, ScribeOptions(diarizer=diarizer, diarizer_model=folder))
    t1 = time.perf_counter()
    cpu0 = time.process_time()
    annotation = diarize(backend, audio, Timeline([Segment(0.0, seconds)]))
    t2 = time.perf_counter()
    print(json.dumps({
        "diarizer": diarizer,
        "audio_seconds": round(seconds, 2),
        "load_seconds": round(t1 - t0, 2),
        "diarize_seconds": round(t2 - t1, 2),
        "seconds_per_audio_minute": round((t2 - t1) / seconds * 60, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
        "speakers": len(annotation.labels()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "torch_threads": torch.get_num_threads(),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(REPO / "samples" / "cough_visit.wav"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "pyannote_speed.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.pyannote_models import build_pipeline_folder

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_pipeline_folder(Path(tmp) / "random-community-1", embedding="resnet34", segmentation_step=0.1)
        for diarizer in ("embedding", "pyannote"):
            load_before = os.getloadavg()[0]
            proc = subprocess.run(
                [sys.executable, __file__, "--child", diarizer, args.file, str(folder)],
                capture_output=True, text=True, env=env, check=True,
            )
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            run["load_average_1min_before"] = round(load_before, 2)
            runs.append(run)
            print(json.dumps(run))
    result = {
        "file": str(Path(args.file).relative_to(REPO)) if Path(args.file).is_relative_to(REPO) else args.file,
        "pyannote_models": "random weights, community-1 architectures: PyanNet + WeSpeakerResNet34 + VBx/PLDA",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
