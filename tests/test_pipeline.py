"""The pipeline's seams: backends by name, and the visit plumbing every window goes through."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import pytest

from privacy.visit import Visit
from scribe.options import ScribeOptions
from scribe.pipeline import Pipeline
from scribe.registry import UnknownBackendError
from tests.conftest import SAMPLES


@pytest.mark.parametrize("field", ["speech", "vad_backend", "diarizer", "role_labeller", "drafter"])
def test_unknown_backend_fails_before_models_load(field):
    with pytest.raises(UnknownBackendError, match="no such"):
        Pipeline(replace(ScribeOptions(), **{field: "nope"}))


def test_every_window_is_zeroed_in_privacy_mode(pipeline):
    """Blocks, joins and carried-over audio: each plaintext array the stages saw is zero
    once the visit is processed (20 s blocks, so audio is carried between blocks)."""
    seen = []

    class Watched(Visit):
        @contextmanager
        def keep_audio(self, block, start):
            with super().keep_audio(block, start) as window:
                seen.append(window)
                yield window

        @contextmanager
        def held(self, array):
            with super().held(array) as held:
                seen.append(held)
                yield held

    small = Pipeline(
        replace(pipeline.options, block_seconds=20.0),
        speech_model=pipeline.speech_model,
        detector=pipeline.detector,
        diarizer=pipeline.diarizer,
        role_labeller=pipeline.role_labeller,
        drafter=pipeline.drafter,
    )
    with Watched(privacy=True) as visit:
        result = small.process(SAMPLES / "knee_followup.wav", visit=visit)
    assert result.transcript.segments
    assert len(seen) > 6 and all(a.size == 0 or not a.any() for a in seen)
